// Engine: one WebAssembly instance holding one model, used directly (Node,
// in-process) or inside a worker (worker-core.js). Knows the wasm module's
// Embind API; nothing outside this file touches it.
//
// Each Engine has its own instance (and so its own memory): dispose() drops
// the instance and every byte with it. The compiled WebAssembly.Module is
// shared by all engines of a realm.
import { ModelLoadError, InvalidOptionError, ResourceLimitError, StateError, abortError, toLmError } from './errors.js';
import { resolveSource, shardsFromIndex } from './sources.js';

// The two builds: single-threaded, and pthreads (needs SharedArrayBuffer).
// The URLs and import() calls are literal so bundlers (Vite, webpack, Parcel)
// find and copy the assets; with others pass loadModel's wasmUrl option.
const BUILDS = {
  single: {
    wasm: new URL('../../dist/lm-wasm.wasm', import.meta.url),
    glue: () => import('../../dist/lm-wasm.mjs'),
  },
  threads: {
    wasm: new URL('../../dist/lm-wasm-mt.wasm', import.meta.url),
    glue: () => import('../../dist/lm-wasm-mt.mjs'),
  },
};
export const WASM_URL = BUILDS.single.wasm;

/**
 * Threads need SharedArrayBuffer: always there in Node, and in browsers only
 * on cross-origin isolated pages.
 */
export function threadsAvailable(platform) {
  return typeof SharedArrayBuffer === 'function' && (platform.isNode || globalThis.crossOriginIsolated === true);
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
const SLICE_MS = 8; // longest run of work between two yields to the event loop
const WARM_UP_MS = 40; // throw-away generations at load, small models only (see #warmUp)

const compiled = new Map(); // wasm URL -> Promise<WebAssembly.Module>, compiled once per realm

function compileOnce(platform, url) {
  const key = url.href;
  if (!compiled.has(key)) {
    const compiling = (async () => {
      if (platform.readWasm && url.protocol === 'file:') return WebAssembly.compile(await platform.readWasm(url));
      if (WebAssembly.compileStreaming) {
        try {
          return await WebAssembly.compileStreaming(fetch(url));
        } catch {
          // A server that does not send application/wasm: compile from bytes instead.
        }
      }
      const response = await fetch(url);
      if (!response.ok) throw new ModelLoadError(`${url.href}: HTTP ${response.status}`, { code: 'io' });
      return WebAssembly.compile(await response.arrayBuffer());
    })();
    compiled.set(key, compiling);
    compiling.catch(() => compiled.delete(key)); // let a later attempt retry
  }
  return compiled.get(key);
}

// `modules` (href -> WebAssembly.Module) are modules another realm compiled
// (a worker client passes the ones earlier workers reported through
// onCompiled): instantiating one of those shares its machine code, already
// optimised by V8's tier-up, instead of compiling the same bytes again.
async function instantiate(platform, { wasmUrl, threads, modules, onCompiled }) {
  const build = threads > 1 ? BUILDS.threads : BUILDS.single;
  const url = wasmUrl ? new URL(wasmUrl, globalThis.location?.href) : build.wasm;
  const given = modules?.[url.href];
  if (given instanceof WebAssembly.Module && !compiled.has(url.href)) compiled.set(url.href, Promise.resolve(given));
  const [{ default: factory }, wasmModule] = await Promise.all([build.glue(), compileOnce(platform, url)]);
  if (wasmModule !== given) onCompiled?.(url.href, wasmModule);
  return factory({
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(wasmModule, imports).then((instance) => receive(instance, wasmModule));
      return {};
    },
    lmThreads: Math.max(1, threads - 1), // pthread workers to start: the calling thread is the other one
    ...(platform.moduleOptions ?? {}),
  });
}

// Threads for threads: "auto": none below ~16 M parameters (the work per
// matrix is too small to share), else `auto` when threads are available.
function threadsFor(configText, auto, platform) {
  if (auto <= 1 || !threadsAvailable(platform)) return 1;
  let c;
  try {
    c = JSON.parse(configText);
  } catch {
    return 1; // Model.load reports the broken config.json
  }
  const d = c.hidden_size ?? 0, f = c.intermediate_size ?? 0, layers = c.num_hidden_layers ?? 0, vocab = c.vocab_size ?? 0;
  const params = layers * (4 * d * d + 3 * d * f) + vocab * d;
  return params >= 16e6 ? auto : 1;
}

// wasm32 memory ends at 4 GiB; keep room for the module's own data and stack.
const WASM32_BUDGET = 4 * 2 ** 30 - 64 * 2 ** 20;
const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;

function checkBudget(e, budget, label, callerBudget) {
  if (e.total <= budget) return;
  throw new ResourceLimitError(
    `${label}: this model needs about ${mb(e.total)} (weights ${mb(Math.max(e.weights, e.loadPeak))}, ` +
      `KV cache ${mb(e.kvCache)} for ${e.contextLength} tokens), more than ` +
      `${callerBudget ? 'the memoryBudget of' : 'WebAssembly memory allows,'} ${mb(budget)}; ` +
      'try weights: "q8" or "bf16", or a smaller contextLength',
  );
}

/**
 * An optional file's text, or null when the model has none (or it cannot be
 * read: a missing generation_config.json only means no defaults). Aborts still abort.
 */
async function optionalText(files, name, signal) {
  if (files.has && !files.has(name)) return null;
  try {
    return await files.text(name, signal);
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    return null;
  }
}

/** Calls into wasm; an engine Error (with .code) becomes the matching LmError. */
function call(fn) {
  try {
    return fn();
  } catch (e) {
    throw toLmError(e);
  }
}

async function readAll(chunks) {
  const parts = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c);
    n += c.length;
  }
  return { parts, size: n };
}

export class Engine {
  /**
   * platform: see node-platform.js / browser-platform.js. wasmUrl: where
   * lm-wasm.wasm is, when a bundler did not keep it next to the glue.
   */
  static async create(platform, { wasmUrl, threads = 1, autoThreads = 1, modules, onCompiled } = {}) {
    if (threads > 1 && !threadsAvailable(platform))
      throw new InvalidOptionError(
        'threads > 1 needs SharedArrayBuffer: serve the page cross-origin isolated (COOP: same-origin, COEP: require-corp)',
      );
    return new Engine(platform, { wasmUrl, threads, autoThreads, modules, onCompiled });
  }

  // The wasm instance is created by load(), once config.json tells how big the
  // model is: "auto" threads pick the single-thread build for small models,
  // whose matrices are too small to split.
  constructor(platform, { wasmUrl, threads, autoThreads, modules, onCompiled }) {
    this.M = null;
    this.modules = modules;
    this.onCompiled = onCompiled;
    this.platform = platform;
    this.wasmUrl = wasmUrl;
    this.threads = threads;
    this.autoThreads = autoThreads;
    this.model = null;
    this.session = null; // the default session (id 0)
    this.sessions = new Map(); // id -> further sessions (createSession)
    this.nextSessionId = 1;
    this.info = null;
    this.loadMs = 0;
    this.pieceCache = new Map();
  }

  /**
   * Downloads / reads the model files into wasm memory and loads the model.
   * onProgress({ loaded, total, file }) reports bytes across all files.
   */
  async load(source, { onProgress, signal, weights = 'auto', contextLength, revision, fetchFn, cache = false, memoryBudget } = {}) {
    if (this.model) throw new StateError('this engine already holds a model');
    const t0 = now();
    const check = () => {
      if (signal?.aborted) throw abortError(signal);
    };
    const files = await resolveSource(source, { platform: this.platform, fetchFn, revision, cache });
    let loaded = 0;
    let total;
    const progress = (file) => onProgress?.({ loaded, total, file, memoryNeeded: this.estimate?.total });

    check();
    const config = await files.text('config.json', signal);
    loaded += config.bytes ?? config.text.length;
    progress('config.json');
    const generationConfig = await optionalText(files, 'generation_config.json', signal);
    if (generationConfig) {
      loaded += generationConfig.bytes ?? generationConfig.text.length;
      progress('generation_config.json');
    }
    if (this.threads === 'auto') this.threads = threadsFor(config.text, this.autoThreads, this.platform);
    this.M = await instantiate(this.platform, { wasmUrl: this.wasmUrl, threads: this.threads, modules: this.modules, onCompiled: this.onCompiled });
    // tokenizer.json, or else a SentencePiece tokenizer.model.
    let tokenizer = await optionalText(files, 'tokenizer.json', signal);
    let tokenizerModel = null;
    if (tokenizer) {
      loaded += tokenizer.bytes ?? tokenizer.text.length;
      progress('tokenizer.json');
    } else {
      try {
        const file = await files.open('tokenizer.model', signal);
        tokenizerModel = await this.#readInto({ name: 'tokenizer.model', ...file }, (n) => (loaded += n));
      } catch (e) {
        if (signal?.aborted) throw abortError(signal);
        tokenizer = await files.text('tokenizer.json', signal); // neither: report the missing tokenizer.json
      }
      progress('tokenizer.model');
    }
    const tokenizerConfig = await optionalText(files, 'tokenizer_config.json', signal); // its chat template
    if (tokenizerConfig) {
      loaded += tokenizerConfig.bytes ?? tokenizerConfig.text.length;
      progress('tokenizer_config.json');
    }

    // One file, or the shards an index lists. Open them all first so the total is known.
    const opened = [];
    const buffers = [];
    try {
      try {
        opened.push({ name: 'model.safetensors', ...(await files.open('model.safetensors', signal)) });
      } catch (e) {
        if (signal?.aborted) throw abortError(signal);
        let index;
        try {
          index = await files.text('model.safetensors.index.json', signal);
        } catch {
          throw e; // neither exists: report the missing model.safetensors
        }
        loaded += index.bytes ?? index.text.length;
        for (const name of shardsFromIndex(index.text)) opened.push({ name, ...(await files.open(name, signal)) });
      }
      if (opened.every((f) => f.size !== undefined)) {
        const checkpointBytes = opened.reduce((s, f) => s + f.size, 0);
        total = loaded + checkpointBytes;
        // What the model will need, before a single weight is read.
        this.estimate = call(() => this.M.estimateMemory(config.text, checkpointBytes, { weights, contextLength }));
        checkBudget(this.estimate, memoryBudget ?? WASM32_BUDGET, files.label, memoryBudget !== undefined);
      }
      progress();
      for (const file of opened) {
        check();
        buffers.push({ name: file.name, buffer: await this.#readInto(file, (n) => {
          loaded += n;
          progress(file.name);
        }) });
      }
      check();
      this.model = call(() =>
        this.M.Model.load(
          {
            config: config.text,
            ...(tokenizerModel ? { tokenizerModel } : { tokenizer: tokenizer.text }),
            generationConfig: generationConfig?.text,
            tokenizerConfig: tokenizerConfig?.text,
            shards: buffers,
          },
          { weights, threads: this.threads },
        ),
      );
    } catch (e) {
      for (const f of opened) f.close(); // responses and files not read to the end
      throw e;
    } finally {
      for (const b of buffers) b.buffer.delete(); // emptied by Model.load when it succeeded
      tokenizerModel?.delete();
    }
    try {
      this.session = call(() => this.M.Session.create(this.model, contextLength ? { contextLength } : {}));
    } catch (e) {
      this.model.delete();
      this.model = null;
      throw e;
    }
    // The files are all read; their cache copies finish a moment later. Wait,
    // so that once loadModel() resolves, listCachedModels() includes them.
    await files.cached?.();
    this.M.lmUnrefThreads?.(); // idle pthread workers must not keep a Node process alive
    await this.#warmUp();
    this.loadMs = now() - t0;
    this.info = this.#describe();
    return this.info;
  }

  // A fresh instance runs V8's baseline code until the hot functions are
  // optimized, which V8 does in the background once they have run a while.
  // For a small model, throw-away generations at load get them there, so
  // the first real story starts and runs at full speed. Measured on the
  // story model: after 8 warm-up tokens the first story's first token took
  // ~6 ms in Chromium (3.5 of them in the engine) and it ran at ~4,000 tok/s
  // (later ones: 1 ms, 9,000); after WARM_UP_MS of these, ~2 ms (0.25 in the
  // engine) and ~7,300 tok/s, for ~30 ms more load. The generations take
  // the path of real ones from text (tokenizer, prefill, this streaming
  // loop, the decoder, the logprobs the page asks for), so the JS is
  // compiled too. Best effort: a model this prompt does not suit (a tiny
  // context) just skips it.
  async #warmUp() {
    if (this.model.info().parameters > 4e6) return;
    const options = { temperature: 0.8, topK: 40, topP: 0.9, maxTokens: 64, ignoreEos: true, stop: [], topLogprobs: 5 };
    const t0 = now();
    try {
      for (let i = 0; i < 64 && now() - t0 < WARM_UP_MS; i++)
        await this.#stream({ yieldNow: async () => {} }, (session) => session.start('Once upon a time', { ...options, seed: i }));
    } catch {
      // Not needed for correctness.
    }
  }

  // Streams one file's chunks into a wasm Buffer (the only copy of its bytes).
  async #readInto(file, onBytes) {
    const where = file.url ?? file.name;
    if (file.size === undefined) {
      // Unknown length (chunked or compressed transfer): gather, then copy once.
      const { parts, size } = await readAll(file.chunks);
      const buffer = call(() => new this.M.Buffer(size));
      let offset = 0;
      for (const p of parts) {
        buffer.write(p, offset);
        offset += p.length;
        onBytes(p.length);
      }
      return buffer;
    }
    const buffer = call(() => new this.M.Buffer(file.size));
    try {
      let offset = 0;
      for await (const chunk of file.chunks) {
        if (offset + chunk.length > file.size)
          throw new ModelLoadError(`${where}: more bytes than the announced ${file.size}`, { code: 'io' });
        buffer.write(chunk, offset);
        offset += chunk.length;
        onBytes(chunk.length);
      }
      if (offset !== file.size)
        throw new ModelLoadError(`${where}: download truncated (${offset} of ${file.size} bytes)`, { code: 'io' });
      return buffer;
    } catch (e) {
      buffer.delete();
      throw e;
    }
  }

  #describe() {
    const i = this.model.info();
    return {
      ...i,
      memoryEstimate: this.estimate ?? null,
      contextLength: this.session.contextLength(),
      memoryBytes: this.M.memoryBytes(),
      sessionBytes: this.session.memoryBytes(),
      loadMs: this.loadMs,
    };
  }

  #requireModel() {
    if (!this.model) throw new StateError('the model is not loaded (or was disposed)');
  }

  tokenize(text, { addSpecialTokens = true } = {}) {
    this.#requireModel();
    if (typeof text !== 'string') throw new InvalidOptionError('tokenize: text must be a string');
    return call(() => this.model.tokenize(text, addSpecialTokens));
  }

  detokenize(ids, { skipSpecialTokens = true } = {}) {
    this.#requireModel();
    return call(() => this.model.detokenize(ids, skipSpecialTokens));
  }

  // Display text of one token (for the alternatives of topLogprobs).
  #pieceText(id) {
    let t = this.pieceCache.get(id);
    if (t === undefined) {
      t = this.model.detokenize([id], false);
      this.pieceCache.set(id, t);
    }
    return t;
  }

  /** A further session (own KV cache) over the same weights; returns its id. */
  createSession({ contextLength } = {}) {
    this.#requireModel();
    const session = call(() => this.M.Session.create(this.model, contextLength ? { contextLength } : {}));
    const id = this.nextSessionId++;
    this.sessions.set(id, session);
    return { id, contextLength: session.contextLength(), memoryBytes: session.memoryBytes() };
  }

  disposeSession(id) {
    this.sessions.get(id)?.delete();
    this.sessions.delete(id);
  }

  #session(id = 0) {
    this.#requireModel();
    const session = id === 0 ? this.session : this.sessions.get(id);
    if (!session) throw new StateError(`session ${id} does not exist (disposed?)`);
    return session;
  }

  /**
   * Runs one generation. onChunks(chunks[]) receives tokens in small batches
   * (the first token alone, for a fast first paint); onPrefill(done, total)
   * reports prompt progress. Resolves to the final result; rejects with
   * AbortError when `signal` aborts, leaving the engine ready for the next call.
   */
  async generate(prompt, options, context = {}) {
    if (typeof prompt !== 'string' && !Array.isArray(prompt))
      throw new InvalidOptionError('prompt must be a string or an array of token ids');
    return this.#stream(context, (session) => session.start(prompt, options));
  }

  /** Like generate, for the reply to chat messages [{ role, content }] (the model's chat template). */
  async chat(messages, options, context = {}) {
    if (!Array.isArray(messages)) throw new InvalidOptionError('chat: messages must be an array of { role, content }');
    return this.#stream(context, (session) => session.chat(messages, options));
  }

  async #stream({ signal, onChunks, onPrefill, yieldNow = this.platform.yieldNow, session: sessionId = 0 }, start) {
    const session = this.#session(sessionId);
    if (signal?.aborted) throw abortError(signal);
    call(() => start(session));
    let batch = [];
    let first = true;
    let sliceStart = now();
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const ev = call(() => session.next());
        if (ev.kind === 'done') break;
        if (ev.kind === 'prefill') {
          onPrefill?.(ev.done, ev.total);
        } else {
          const chunk = { id: ev.id, text: ev.text };
          if (ev.logprob !== undefined) chunk.logprob = ev.logprob;
          if (ev.top) chunk.top = ev.top.map(([id, logprob]) => ({ id, text: this.#pieceText(id), logprob }));
          batch.push(chunk);
        }
        const sliceOver = now() - sliceStart > SLICE_MS;
        if (batch.length && (first || sliceOver || ev.last)) {
          onChunks?.(batch);
          batch = [];
          first = false;
        }
        if (sliceOver) {
          await yieldNow(); // lets abort messages and other work in
          sliceStart = now();
        }
      }
      if (batch.length) onChunks?.(batch);
    } catch (e) {
      session.cancel();
      throw e;
    }
    const r = session.result();
    return { text: r.text, ids: r.ids, promptIds: r.promptIds, reason: r.reason, stats: { ...r.stats, loadMs: this.loadMs } };
  }

  memory() {
    this.#requireModel();
    return { memoryBytes: this.M.memoryBytes(), heapInUse: this.M.heapInUse() };
  }

  dispose() {
    for (const session of this.sessions.values()) session.delete();
    this.sessions.clear();
    this.session?.delete();
    this.model?.delete();
    this.session = null;
    this.model = null;
    this.M?.lmTerminateThreads?.();
    this.M = null; // drop the instance: its memory goes with it
  }
}
