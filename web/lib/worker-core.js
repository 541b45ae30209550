// The engine side of the worker protocol, shared by the browser worker
// (worker.js) and the Node worker thread (node-worker.js).
//
// Protocol. Every request is { id, type, ... } and gets exactly one final
// reply, { id, type: 'result', value } or { id, type: 'error', error:
// { name, message, code } }, possibly preceded by events for the same id:
//   load       { source, options: { weights, contextLength, revision, threads, cache, wasmUrl, modules } }
//                                    events { type: 'progress', loaded, total, file }
//                                    and { type: 'compiled', url, module } when this worker
//                                    compiled the .wasm at `url` itself
//                                    value: model info
//              (modules: { [url]: WebAssembly.Module } compiled by earlier workers; the
//              client keeps what 'compiled' events hand it and passes them on, so a
//              new worker reuses machine code V8 has already optimised)
//   generate   { prompt, options, session? }
//                                    events { type: 'chunks', chunks: [{ id, text, logprob?, top? }] }
//                                    value: { text, ids, promptIds, reason, stats }
//   chat       { messages, options, session? }   as generate, for the reply to [{ role, content }]
//   createSession { options: { contextLength } }  value: { id, contextLength, memoryBytes }
//   disposeSession { session }       value: null
//   tokenize   { text, options }     value: ids
//   detokenize { ids, options }      value: text
//   memory     {}                    value: { memoryBytes, heapInUse }
//   dispose    {}                    value: null; the worker then holds nothing
//   abort      { target }            no reply; request `target` ends with an AbortError
// Requests run one at a time in arrival order; `abort` is handled at once.
import { Engine } from './engine.js';
import { toWire } from './errors.js';

export function serveEngine(platform, post, onMessage) {
  let engine = null;
  let tail = Promise.resolve();
  const controllers = new Map(); // request id -> AbortController

  const handlers = {
    async load(msg, signal) {
      const { wasmUrl, threads, autoThreads, modules } = msg.options;
      const onCompiled = (url, module) => {
        try {
          post({ id: msg.id, type: 'compiled', url, module });
        } catch {
          // A host that cannot send a WebAssembly.Module: the next worker compiles again.
        }
      };
      engine = await Engine.create(platform, { wasmUrl, threads, autoThreads, modules, onCompiled });
      try {
        return await engine.load(msg.source, {
          ...msg.options,
          signal,
          onProgress: (p) => post({ id: msg.id, type: 'progress', ...p }),
        });
      } catch (e) {
        engine.dispose();
        engine = null;
        throw e;
      }
    },
    generate: (msg, signal) =>
      engine.generate(msg.prompt, msg.options, {
        signal,
        session: msg.session ?? 0,
        onChunks: (chunks) => post({ id: msg.id, type: 'chunks', chunks }),
      }),
    chat: (msg, signal) =>
      engine.chat(msg.messages, msg.options, {
        signal,
        session: msg.session ?? 0,
        onChunks: (chunks) => post({ id: msg.id, type: 'chunks', chunks }),
      }),
    createSession: (msg) => engine.createSession(msg.options),
    disposeSession: (msg) => engine.disposeSession(msg.session),
    tokenize: (msg) => engine.tokenize(msg.text, msg.options),
    detokenize: (msg) => engine.detokenize(msg.ids, msg.options),
    memory: () => engine.memory(),
    dispose() {
      engine?.dispose();
      engine = null;
      return null;
    },
  };

  onMessage((msg) => {
    if (msg.type === 'abort') {
      controllers.get(msg.target)?.abort();
      return;
    }
    const handler = handlers[msg.type];
    const controller = new AbortController();
    controllers.set(msg.id, controller);
    const run = async () => {
      try {
        if (!handler) throw new Error(`unknown request type '${msg.type}'`);
        if (!engine && msg.type !== 'load' && msg.type !== 'dispose') throw Object.assign(new Error('no model loaded'), { code: 'state' });
        post({ id: msg.id, type: 'result', value: await handler(msg, controller.signal) });
      } catch (e) {
        post({ id: msg.id, type: 'error', error: toWire(e) });
      } finally {
        controllers.delete(msg.id);
      }
    };
    tail = tail.then(run);
  });
}
