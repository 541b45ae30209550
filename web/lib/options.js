// Checks and normalises the options of generate() and loadModel(), so a
// mistake is reported by name before any work starts.
import { InvalidOptionError } from './errors.js';

export const GENERATE_DEFAULTS = Object.freeze({
  maxTokens: 256,
  temperature: 0.8,
  topK: 40,
  topP: 0.9,
  repetitionPenalty: 1.0,
  repetitionLastN: 0,
  stop: [],
  ignoreEos: false,
  topLogprobs: 0,
  logprobs: false,
  truncatePrompt: false,
});

const fail = (message) => {
  throw new InvalidOptionError(message);
};

function isAbortSignal(s) {
  return s != null && typeof s === 'object' && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function';
}

function checkInteger(name, v, min, max) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v) ?? String(v)}`);
  return v;
}

function checkNumber(name, v, ok, rule) {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) fail(`${name} must be ${rule}, got ${String(v)}`);
  return v;
}

function checkBoolean(name, v) {
  if (typeof v !== 'boolean') fail(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** A random seed that fits a double exactly (the engine takes integers up to 2^53 - 1). */
export function randomSeed() {
  return Math.floor(Math.random() * 2 ** 32) * 2 ** 20 + Math.floor(Math.random() * 2 ** 20);
}

// The model's sampling defaults (info.generationDefaults, from its
// generation_config.json) that may replace GENERATE_DEFAULTS.
const MODEL_DEFAULT_KEYS = ['temperature', 'topK', 'topP', 'repetitionPenalty'];

/**
 * Validates generate() options. Returns { engine: plain options for the
 * engine (seed filled in), signal }. Options not given take the model's
 * `modelDefaults` (info.generationDefaults), then GENERATE_DEFAULTS.
 */
export function normalizeGenerateOptions(options = {}, modelDefaults = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    fail('generate options must be an object');
  const known = new Set([...Object.keys(GENERATE_DEFAULTS), 'seed', 'signal']);
  for (const key of Object.keys(options)) if (!known.has(key)) fail(`unknown generate option '${key}'`);
  const o = { ...GENERATE_DEFAULTS };
  for (const k of MODEL_DEFAULT_KEYS) if (modelDefaults?.[k] !== undefined) o[k] = modelDefaults[k];
  for (const [k, v] of Object.entries(options)) if (v !== undefined) o[k] = v;

  checkInteger('maxTokens', o.maxTokens, 0, 1 << 30);
  checkNumber('temperature', o.temperature, (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0 (0 = greedy)');
  checkInteger('topK', o.topK, 0, 1 << 30);
  checkNumber('topP', o.topP, (v) => v > 0 && v <= 1, 'in (0, 1]');
  checkNumber('repetitionPenalty', o.repetitionPenalty, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0 (1 = off)');
  checkInteger('repetitionLastN', o.repetitionLastN, 0, 1 << 30);
  checkInteger('topLogprobs', o.topLogprobs, 0, 20);
  checkBoolean('ignoreEos', o.ignoreEos);
  checkBoolean('logprobs', o.logprobs);
  checkBoolean('truncatePrompt', o.truncatePrompt);
  const stop = typeof o.stop === 'string' ? [o.stop] : o.stop;
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0))
    fail('stop must be a non-empty string or an array of them');
  if (stop.length > 16) fail('stop: at most 16 stop strings');
  const seed = o.seed === undefined ? randomSeed() : checkInteger('seed', o.seed, 0, Number.MAX_SAFE_INTEGER);
  if (o.signal !== undefined && !isAbortSignal(o.signal)) fail('signal must be an AbortSignal');

  const engine = {
    maxTokens: o.maxTokens,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    repetitionPenalty: o.repetitionPenalty,
    repetitionLastN: o.repetitionLastN,
    seed,
    stop,
    ignoreEos: o.ignoreEos,
    topLogprobs: o.topLogprobs,
    logprobs: o.logprobs,
    truncatePrompt: o.truncatePrompt,
  };
  return { engine, signal: o.signal };
}

const LOAD_KEYS = new Set(['onProgress', 'signal', 'worker', 'threads', 'weights', 'contextLength', 'revision', 'cache', 'fetch', 'wasmUrl', 'workerUrl', 'memoryBudget']);

/** Validates loadModel() options. */
export function normalizeLoadOptions(options = {}) {
  if (options === null || typeof options !== 'object') fail('loadModel options must be an object');
  for (const key of Object.keys(options)) if (!LOAD_KEYS.has(key)) fail(`unknown loadModel option '${key}'`);
  const o = { ...options };
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('onProgress must be a function');
  if (o.signal !== undefined && !isAbortSignal(o.signal)) fail('signal must be an AbortSignal');
  if (o.worker !== undefined) checkBoolean('worker', o.worker);
  if (o.cache !== undefined) checkBoolean('cache', o.cache);
  if (o.threads !== undefined && o.threads !== 'auto') checkInteger('threads', o.threads, 1, 64);
  if (o.weights !== undefined && !['auto', 'f32', 'bf16', 'q8'].includes(o.weights))
    fail(`weights must be "auto", "f32", "bf16" or "q8", got ${JSON.stringify(o.weights)}`);
  if (o.contextLength !== undefined) checkInteger('contextLength', o.contextLength, 1, 1 << 20);
  if (o.revision !== undefined && (typeof o.revision !== 'string' || !/^[\w.\-/]+$/.test(o.revision)))
    fail('revision must be a branch, tag or commit name');
  if (o.fetch !== undefined && typeof o.fetch !== 'function') fail('fetch must be a function');
  if (o.memoryBudget !== undefined) checkNumber('memoryBudget', o.memoryBudget, (v) => Number.isFinite(v) && v > 0, 'a number of bytes > 0');
  for (const key of ['wasmUrl', 'workerUrl'])
    if (o[key] !== undefined && typeof o[key] !== 'string' && !(o[key] instanceof URL)) fail(`${key} must be a URL or a string`);
  return o;
}
