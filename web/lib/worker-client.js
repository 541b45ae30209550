// The main-thread side of the worker protocol (see worker-core.js): a backend
// for LmModel whose engine lives in a worker.
import { LmError, abortError, fromWire } from './errors.js';

// WebAssembly modules workers compiled (url -> Module), handed to the next
// workers of this realm: see 'compiled' in worker-core.js.
const compiledModules = new Map();

export class WorkerClient {
  #port; // { post(msg), terminate() }
  #next = 1;
  #pending = new Map(); // id -> { resolve, reject, onEvent }
  #broken = null;

  /** port: { post, terminate, onMessage(fn), onError(fn) } over a Worker or worker_threads Worker. */
  constructor(port) {
    this.#port = port;
    port.onMessage((msg) => {
      const p = this.#pending.get(msg.id);
      if (!p) return; // a request we stopped waiting for (aborted)
      if (msg.type === 'result') {
        this.#pending.delete(msg.id);
        p.resolve(msg.value);
      } else if (msg.type === 'error') {
        this.#pending.delete(msg.id);
        p.reject(fromWire(msg.error));
      } else {
        p.onEvent?.(msg);
      }
    });
    port.onError((message) => {
      this.#broken = new LmError(`the lm-wasm worker failed: ${message}`);
      for (const p of this.#pending.values()) p.reject(this.#broken);
      this.#pending.clear();
    });
  }

  #request(type, payload, { signal, onEvent } = {}) {
    if (this.#broken) return Promise.reject(this.#broken);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const settle = (fn) => (v) => {
        signal?.removeEventListener('abort', onAbort);
        fn(v);
      };
      const onAbort = () => this.#port.post({ type: 'abort', target: id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject), onEvent });
      this.#port.post({ id, type, ...payload });
    });
  }

  load(source, { onProgress, signal, ...options }) {
    const modules = Object.fromEntries(compiledModules);
    return this.#request('load', { source, options: { ...options, modules } }, {
      signal,
      onEvent: (m) => {
        if (m.type === 'compiled') {
          if (typeof WebAssembly !== 'undefined' && m.module instanceof WebAssembly.Module) compiledModules.set(m.url, m.module);
        } else {
          onProgress?.({ loaded: m.loaded, total: m.total, file: m.file, memoryNeeded: m.memoryNeeded });
        }
      },
    });
  }

  generate(prompt, options, { signal, onChunks, session = 0 }) {
    return this.#request('generate', { prompt, options, session }, { signal, onEvent: (m) => onChunks(m.chunks) });
  }

  chat(messages, options, { signal, onChunks, session = 0 }) {
    return this.#request('chat', { messages, options, session }, { signal, onEvent: (m) => onChunks(m.chunks) });
  }

  createSession(options) {
    return this.#request('createSession', { options });
  }

  disposeSession(session) {
    return this.#request('disposeSession', { session });
  }

  tokenize(text, options) {
    return this.#request('tokenize', { text, options });
  }

  detokenize(ids, options) {
    return this.#request('detokenize', { ids, options });
  }

  memory() {
    return this.#request('memory', {});
  }

  async dispose() {
    try {
      await this.#request('dispose', {});
    } finally {
      this.#port.terminate();
    }
  }
}

/** A port over a browser module Worker running worker.js (or a bundled copy at workerUrl). */
export function browserWorkerPort(workerUrl) {
  const worker = workerUrl
    ? new Worker(workerUrl, { type: 'module', name: 'lm-wasm' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'lm-wasm' });
  return {
    post: (msg) => worker.postMessage(msg),
    terminate: () => worker.terminate(),
    onMessage: (fn) => worker.addEventListener('message', (e) => fn(e.data)),
    onError: (fn) => worker.addEventListener('error', (e) => fn(e.message || 'could not start worker.js')),
  };
}
