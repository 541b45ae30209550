// LmModel and Generation: the public API over a backend (an Engine in this
// realm, or a WorkerClient driving an Engine in a worker). Calls on one model
// run one after another, in call order.
import { StateError, abortError, toLmError } from './errors.js';
import { normalizeGenerateOptions } from './options.js';

/**
 * The stream of one generation: `for await (const chunk of generation)` gives
 * { id, text, logprob, top? } per token; `await generation` (or
 * `generation.result`) gives { text, ids, promptIds, reason, stats }.
 * Leaving a for-await loop early cancels the generation.
 */
export class Generation {
  #queue = [];
  #wake = null;
  #finished = false;
  #error = null;
  #controller = new AbortController();

  constructor(run, signal) {
    if (signal) {
      if (signal.aborted) this.#controller.abort(signal.reason);
      else signal.addEventListener('abort', () => this.#controller.abort(signal.reason), { once: true });
    }
    const own = this.#controller.signal;
    // Abort is immediate for the caller, whatever the backend is doing.
    const aborted = new Promise((_, reject) => {
      if (own.aborted) reject(abortError(own));
      else own.addEventListener('abort', () => reject(abortError(own)), { once: true });
    });
    this.result = Promise.race([
      run({
        signal: own,
        onChunks: (chunks) => {
          if (own.aborted) return;
          this.#queue.push(...chunks);
          this.#notify();
        },
      }),
      aborted,
    ]).then(
      (r) => {
        this.#finished = true;
        this.#notify();
        return r;
      },
      (e) => {
        this.#error = toLmError(e);
        this.#finished = true;
        this.#notify();
        throw this.#error;
      },
    );
    this.result.catch(() => {}); // the error reaches whoever iterates or awaits
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Cancels the generation: the stream and the result reject with AbortError. */
  abort(reason) {
    this.#controller.abort(reason);
  }

  then(onFulfilled, onRejected) {
    return this.result.then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        if (this.#controller.signal.aborted) throw abortError(this.#controller.signal);
        if (this.#error) throw this.#error;
        if (this.#queue.length) {
          yield this.#queue.shift();
          continue;
        }
        if (this.#finished) return;
        await new Promise((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      if (!this.#finished) this.abort(); // the loop was left early
    }
  }
}

export class LmSession {
  #model;
  #enqueue;
  #backend;
  #disposed = false;

  constructor(model, info, enqueue, backend) {
    this.#model = model;
    this.#enqueue = enqueue;
    this.#backend = backend;
    this.id = info.id;
    this.contextLength = info.contextLength;
    this.memoryBytes = info.memoryBytes;
  }

  generate(prompt, options = {}) {
    return this.#run('generate', prompt, options);
  }

  chat(messages, options = {}) {
    return this.#run('chat', messages, options);
  }

  #run(method, input, options) {
    if (this.#disposed) return new Generation(() => Promise.reject(new StateError('the session has been disposed')));
    return this.#model._run(this.id, method, input, options);
  }

  async dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#enqueue(() => this.#backend.disposeSession(this.id));
  }
}

export class LmModel {
  #backend;
  #tail = Promise.resolve(); // the end of the call queue
  #disposed = false;

  constructor(backend, info) {
    this.#backend = backend;
    /** Config summary, parameter count, memory figures, load time. */
    this.info = Object.freeze(info);
  }

  // Runs calls one at a time, in order, whatever their outcome.
  #enqueue(fn) {
    if (this.#disposed) return Promise.reject(new StateError('the model has been disposed'));
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /**
   * Generates a continuation of `prompt` (a string, or an array of token ids).
   * Options: maxTokens, temperature, topK, topP, repetitionPenalty, seed,
   * stop, ignoreEos, topLogprobs, truncatePrompt, signal. temperature, topK,
   * topP and repetitionPenalty default to info.generationDefaults (the
   * model's generation_config.json, else lm-wasm's defaults).
   */
  generate(prompt, options = {}) {
    return this._run(0, 'generate', prompt, options);
  }

  /**
   * The assistant's reply to messages [{ role: 'system' | 'user' | 'assistant',
   * content }], formatted with the model's chat template (ChatML, Llama 3 or
   * Zephyr; see info.chatTemplate). Same options and result as generate().
   */
  chat(messages, options = {}) {
    return this._run(0, 'chat', messages, options);
  }

  // A generation (backend method `method`: generate or chat) in session
  // `session` (0: the model's own).
  _run(session, method, input, options) {
    let normalized;
    try {
      normalized = normalizeGenerateOptions(options, this.info.generationDefaults);
    } catch (e) {
      return new Generation(() => Promise.reject(e));
    }
    const { engine, signal } = normalized;
    return new Generation(
      ({ signal: own, onChunks }) =>
        this.#enqueue(() => {
          if (own.aborted) throw abortError(own);
          return this.#backend[method](input, engine, { signal: own, onChunks, session });
        }),
      signal,
    );
  }

  /**
   * A further session over the same weights, with its own KV cache (and
   * context length): several conversations from one loaded model. Calls on
   * all sessions of a model still run one at a time.
   */
  async createSession({ contextLength } = {}) {
    const info = await this.#enqueue(() => this.#backend.createSession({ contextLength }));
    return new LmSession(this, info, (fn) => this.#enqueue(fn), this.#backend);
  }

  /** Token ids of `text` (with the BOS token unless addSpecialTokens is false). */
  tokenize(text, { addSpecialTokens = true } = {}) {
    return this.#enqueue(() => this.#backend.tokenize(text, { addSpecialTokens }));
  }

  /** Text of token ids (special tokens skipped unless skipSpecialTokens is false). */
  detokenize(ids, { skipSpecialTokens = true } = {}) {
    return this.#enqueue(() => this.#backend.detokenize(ids, { skipSpecialTokens }));
  }

  /** Current memory figures of the engine. */
  memory() {
    return this.#enqueue(() => this.#backend.memory());
  }

  /** Frees the model (and its worker); later calls reject with StateError. */
  async dispose() {
    if (this.#disposed) return;
    const last = this.#tail;
    this.#disposed = true;
    await last;
    await this.#backend.dispose();
  }
}
