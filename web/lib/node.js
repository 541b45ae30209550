// lm-wasm's Node entry (chosen by the "node" condition of the exports map).
// The engine runs in this thread by default; { worker: true } moves it to a
// worker thread. Sources may also be directory paths.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { makeLoadModel } from './api.js';
import { Engine } from './engine.js';
import { nodePlatform } from './node-platform.js';

export * from './errors.js';
export { LmModel, LmSession, Generation } from './model.js';
export { GENERATE_DEFAULTS } from './options.js';
export { parseRepoId, hfBaseUrl } from './sources.js';
export { listCachedModels, deleteCachedModel, CACHE_NAME } from './model-cache.js';

function nodeWorkerPort(workerUrl) {
  const worker = new Worker(workerUrl ?? new URL('./node-worker.js', import.meta.url));
  return {
    post: (msg) => worker.postMessage(msg),
    terminate: () => worker.terminate(),
    onMessage: (fn) => worker.on('message', fn),
    onError: (fn) => worker.on('error', (e) => fn(e.message)),
  };
}

export const loadModel = makeLoadModel({
  platform: nodePlatform,
  workerByDefault: false,
  workerPort: nodeWorkerPort,
  createEngine: (options) => Engine.create(nodePlatform, options),
  autoThreads: () => Math.max(1, Math.min(4, availableParallelism())),
});
