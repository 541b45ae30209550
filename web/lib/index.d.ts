// Type declarations for lm-wasm (both the browser and the Node entry).

/** Where a model's files come from. */
export type ModelSource =
  /** A base URL holding config.json, tokenizer.json and model.safetensors (or an index and shards). */
  | string
  | URL
  /** Files by name: { "config.json": File | Blob | ArrayBuffer | Uint8Array | string | object, ... }. */
  | Record<string, Blob | ArrayBuffer | ArrayBufferView | string | object>
  /** File objects (e.g. from <input type=file> or a drop), named by file name. */
  | File[]
  | FileList;

export interface LoadProgress {
  /** Bytes read so far, across all files. */
  loaded: number;
  /** Bytes in all files, once known. */
  total?: number;
  /** Bytes of memory the model will need (weights, KV cache, scratch), once known: before the weights download. */
  memoryNeeded?: number;
  /** The file being read. */
  file?: string;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /** Run the engine in a Web Worker / worker thread (default: true in browsers, false in Node). */
  worker?: boolean;
  /**
   * Engine threads. "auto" (the default): up to 4 where SharedArrayBuffer exists (Node, and
   * cross-origin isolated pages), else 1. A number > 1 fails where threads are unavailable.
   */
  threads?: number | 'auto';
  /**
   * Keep weights as stored, or convert at load (q8: int8 with a scale per 32 values). Default "auto": as stored,
   * except that F32 matrices holding only bf16 values are narrowed to bf16 in place (lossless).
   */
  weights?: 'auto' | 'f32' | 'bf16' | 'q8';
  /** KV-cache length in tokens (default: min(max_position_embeddings, 2048)). */
  contextLength?: number;
  /** Hugging Face revision for a repo id source (default "main"; "owner/name@rev" also works). */
  revision?: string;
  /** A fetch implementation (forces the in-process engine). */
  fetch?: typeof fetch;
  /** Keep downloaded files in the browser's Cache API and reuse them (default true in browsers). */
  cache?: boolean;
  /** Where lm-wasm.wasm is served, when a bundler did not keep it next to the glue (e.g. esbuild). */
  wasmUrl?: string | URL;
  /** Refuse (ResourceLimitError, before downloading weights) a model needing more bytes than this. Default: the 4 GiB of wasm32. */
  memoryBudget?: number;
  /** Where the (bundled) worker script is served, when a bundler did not keep worker.js. */
  workerUrl?: string | URL;
}

export interface ModelInfo {
  architecture: string;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  maxContext: number;
  contextLength: number;
  parameters: number;
  /** Bytes of weight memory the model holds. */
  weightBytes: number;
  /** Bytes of weights one decode step reads (every matrix once, in the form the kernels use). */
  weightBytesPerToken: number;
  weightDtype: string;
  bosId: number;
  /** config.json's eos_token_id plus generation_config.json's. */
  eosIds: number[];
  /** Attention sees only the last this-many positions (Mistral's sliding_window); 0 = all. */
  slidingWindow: number;
  /**
   * What generate() uses for these options when the call does not set them:
   * the model's generation_config.json (do_sample: false means temperature 0),
   * else lm-wasm's defaults (0.8, 40, 0.9, 1).
   */
  generationDefaults: GenerationDefaults;
  simd: string;
  threads: number;
  memoryBytes: number;
  sessionBytes: number;
  loadMs: number;
  /** The chat template family recognized in tokenizer_config.json, or null: chat() needs one. */
  chatTemplate: 'chatml' | 'llama3' | 'zephyr' | null;
  /** The estimate made before the weights were read (null when file sizes were unknown). */
  memoryEstimate: MemoryEstimate | null;
}

export interface GenerationDefaults {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
}

export interface MemoryEstimate {
  weights: number;
  loadPeak: number;
  kvCache: number;
  scratch: number;
  total: number;
  contextLength: number;
}

export interface GenerateOptions {
  /** Default 256. Generation also stops when the context is full. */
  maxTokens?: number;
  /** 0 = greedy. Default: model.info.generationDefaults (0.8 unless generation_config.json says otherwise). */
  temperature?: number;
  /** 0 = off. Default: model.info.generationDefaults (40). */
  topK?: number;
  /** In (0, 1]; 1 = off. Default: model.info.generationDefaults (0.9). */
  topP?: number;
  /** 1 = off (Hugging Face rule). Default: model.info.generationDefaults (1). */
  repetitionPenalty?: number;
  /** Penalise only the last n tokens; 0 = all. Default 0. */
  repetitionLastN?: number;
  /** Integer in [0, 2^53 - 1]; the same seed gives the same tokens everywhere. Default: random. */
  seed?: number;
  /** Stop strings (not included in the text). */
  stop?: string | string[];
  /** Keep going past end-of-sequence tokens. */
  ignoreEos?: boolean;
  /** Report this many most likely alternatives per token (0..20); implies logprobs. */
  topLogprobs?: number;
  /** Report each token's log-probability (chunk.logprob). */
  logprobs?: boolean;
  /** An over-long prompt keeps its end instead of failing with ContextOverflowError. */
  truncatePrompt?: boolean;
  signal?: AbortSignal;
}

export interface TokenAlternative {
  id: number;
  text: string;
  logprob: number;
}

export interface Chunk {
  /** The token id. */
  id: number;
  /** Text this token released (may be empty while a character or stop string is incomplete). */
  text: string;
  /** Log-probability of the token under the model (with logprobs or topLogprobs). */
  logprob?: number;
  /** The most likely tokens at this step (with topLogprobs). */
  top?: TokenAlternative[];
}

export type StopReason = 'eos' | 'max_tokens' | 'context' | 'stop' | 'cancelled';

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  loadMs: number;
  prefillMs: number;
  timeToFirstTokenMs: number;
  decodeMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
}

export interface GenerationResult {
  /** The continuation text (the chunks' texts concatenated). */
  text: string;
  /** Generated ids, including the end-of-sequence id when one ended the text. */
  ids: number[];
  promptIds: number[];
  reason: StopReason;
  stats: GenerationStats;
}

/** Iterate for chunks; await for the final result. */
export declare class Generation implements AsyncIterable<Chunk>, PromiseLike<GenerationResult> {
  readonly result: Promise<GenerationResult>;
  abort(reason?: unknown): void;
  then<A = GenerationResult, B = never>(
    onfulfilled?: ((value: GenerationResult) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B>;
  [Symbol.asyncIterator](): AsyncIterator<Chunk>;
}

/** A further session over a model's weights, with its own KV cache. */
export declare class LmSession {
  readonly id: number;
  readonly contextLength: number;
  readonly memoryBytes: number;
  generate(prompt: string | number[], options?: GenerateOptions): Generation;
  chat(messages: ChatMessage[], options?: GenerateOptions): Generation;
  dispose(): Promise<void>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export declare class LmModel {
  readonly info: Readonly<ModelInfo>;
  generate(prompt: string | number[], options?: GenerateOptions): Generation;
  /** The reply to chat messages, formatted with the model's chat template (info.chatTemplate). */
  chat(messages: ChatMessage[], options?: GenerateOptions): Generation;
  /** A further session (own KV cache) over the same loaded weights. */
  createSession(options?: { contextLength?: number }): Promise<LmSession>;
  tokenize(text: string, options?: { addSpecialTokens?: boolean }): Promise<number[]>;
  detokenize(ids: number[], options?: { skipSpecialTokens?: boolean }): Promise<string>;
  memory(): Promise<{ memoryBytes: number; heapInUse: number }>;
  dispose(): Promise<void>;
}

export declare function loadModel(source: ModelSource, options?: LoadOptions): Promise<LmModel>;

export declare const GENERATE_DEFAULTS: Readonly<Required<Omit<GenerateOptions, 'seed' | 'signal'>>>;
export declare function parseRepoId(s: string): { owner: string; name: string; revision?: string } | null;
export declare function hfBaseUrl(repo: { owner: string; name: string }, revision?: string): string;

export interface CachedModel {
  /** The base URL the files were downloaded from. */
  source: string;
  files: { name: string; bytes: number }[];
  bytes: number;
}
/** Models whose files this browser keeps (empty in Node). */
export declare function listCachedModels(): Promise<CachedModel[]>;
/** Deletes the kept files of one model; resolves to the number of files removed. */
export declare function deleteCachedModel(source: string): Promise<number>;
export declare const CACHE_NAME: string;

export type ErrorCode =
  | 'format'
  | 'io'
  | 'unsupported'
  | 'invalid_argument'
  | 'context_overflow'
  | 'resource_limit'
  | 'state'
  | 'internal';

export declare class LmError extends Error {
  code: ErrorCode;
}
export declare class ModelLoadError extends LmError {}
export declare class UnsupportedModelError extends ModelLoadError {}
export declare class InvalidOptionError extends LmError {}
export declare class ContextOverflowError extends LmError {}
export declare class ResourceLimitError extends LmError {}
export declare class StateError extends LmError {}
export declare function isAbortError(e: unknown): boolean;
