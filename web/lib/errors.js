// Typed errors of the lm-wasm API. Every error the package throws is an
// LmError (or an AbortError DOMException when a signal aborts), with a
// `code` matching the engine's error kinds.

export class LmError extends Error {
  constructor(message, { code = 'internal', cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LmError';
    this.code = code;
  }
}

/** A model file could not be fetched or read, or is malformed. */
export class ModelLoadError extends LmError {
  constructor(message, options) {
    super(message, options);
    this.name = 'ModelLoadError';
  }
}

/** A well-formed model or tokenizer uses something lm-wasm does not implement. */
export class UnsupportedModelError extends ModelLoadError {
  constructor(message, options) {
    super(message, options);
    this.name = 'UnsupportedModelError';
  }
}

/** An option or argument is invalid; the message names it. */
export class InvalidOptionError extends LmError {
  constructor(message, options) {
    super(message, { code: 'invalid_argument', ...options });
    this.name = 'InvalidOptionError';
  }
}

/** The prompt does not fit the context window. */
export class ContextOverflowError extends LmError {
  constructor(message, options) {
    super(message, { code: 'context_overflow', ...options });
    this.name = 'ContextOverflowError';
  }
}

/** A size exceeds what WebAssembly memory (4 GiB) or a given budget allows. */
export class ResourceLimitError extends LmError {
  constructor(message, options) {
    super(message, { code: 'resource_limit', ...options });
    this.name = 'ResourceLimitError';
  }
}

/** The model was disposed, or a call came in the wrong state. */
export class StateError extends LmError {
  constructor(message, options) {
    super(message, { code: 'state', ...options });
    this.name = 'StateError';
  }
}

const byCode = {
  format: ModelLoadError,
  io: ModelLoadError,
  unsupported: UnsupportedModelError,
  invalid_argument: InvalidOptionError,
  context_overflow: ContextOverflowError,
  resource_limit: ResourceLimitError,
  state: StateError,
};

/** The standard AbortError, or the signal's own reason when it is an Error. */
export function abortError(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error || (typeof DOMException !== 'undefined' && reason instanceof DOMException)) return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

export function isAbortError(e) {
  return e?.name === 'AbortError';
}

/** Turns anything thrown (engine Error with .code, plain Error, string) into an LmError. */
export function toLmError(e) {
  if (e instanceof LmError || isAbortError(e)) return e;
  const message = e?.message ?? String(e);
  const Class = byCode[e?.code] ?? LmError;
  return new Class(message, { code: e?.code ?? 'internal' });
}

/** A plain object that survives postMessage; see fromWire. */
export function toWire(e) {
  const err = toLmError(e);
  return { name: err.name, message: err.message, code: err.code };
}

const byName = {
  LmError,
  ModelLoadError,
  UnsupportedModelError,
  InvalidOptionError,
  ContextOverflowError,
  ResourceLimitError,
  StateError,
};

export function fromWire(w) {
  if (w.name === 'AbortError') return new DOMException(w.message, 'AbortError');
  const err = new (byName[w.name] ?? LmError)(w.message);
  err.code = w.code;
  return err;
}
