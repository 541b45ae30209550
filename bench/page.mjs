// The Chromium bench page's script: the package's browser entry (engine in a
// Web Worker, the default) measured with the shared protocol, and the machine
// figures from the raw Embind module on this page's thread.
import { loadModel } from '../web/lib/index.js';
import createLmWasm from '../dist/lm-wasm.mjs';
import { benchModel, measureMachine } from './wasm-protocol.mjs';

window.bench = {
  /** { source (URL of a model folder), weights, threads, runs, promptTokens, decodeTokens, warmupTokens, context } */
  run: ({ source, ...options }) => benchModel(loadModel, source, { ...options, loadOptions: { cache: false } }),
  async machine(budgetMs, bufferMB) {
    const M = await createLmWasm();
    return measureMachine(M, budgetMs, bufferMB);
  },
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
};
window.benchReady = true;
