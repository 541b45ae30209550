// lm-wasm: Llama-format language models in WebAssembly.
//
//   import { loadModel } from 'lm-wasm';
//   const model = await loadModel('https://example.com/models/story/');
//   for await (const chunk of model.generate('Once upon a time')) show(chunk.text);
//
// This is the browser (default) entry: the engine runs in a Web Worker unless
// { worker: false } is given. Node resolves to node.js instead.
import { makeLoadModel } from './api.js';
import { browserPlatform } from './browser-platform.js';
import { isRelativeUrlSource } from './sources.js';
import { browserWorkerPort } from './worker-client.js';

export * from './errors.js';
export { LmModel, LmSession, Generation } from './model.js';
export { GENERATE_DEFAULTS } from './options.js';
export { parseRepoId, hfBaseUrl } from './sources.js';
export { listCachedModels, deleteCachedModel, CACHE_NAME } from './model-cache.js';

export const loadModel = makeLoadModel({
  platform: browserPlatform,
  workerByDefault: typeof Worker !== 'undefined',
  cacheByDefault: true,
  // Threads only when the page may use SharedArrayBuffer (cross-origin isolated).
  autoThreads: () =>
    typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated === true
      ? Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency || 1))
      : 1,
  // A worker's own location is not the page's: resolve page-relative URLs here.
  resolveSource: (source) =>
    isRelativeUrlSource(source) && globalThis.document ? new URL(source, document.baseURI).href : source,
  workerPort: browserWorkerPort,
  async createEngine(options) {
    const { Engine } = await import('./engine.js');
    return Engine.create(browserPlatform, options);
  },
});
