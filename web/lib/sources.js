// Model sources: where config.json, tokenizer.json and the safetensors
// file(s) come from, read as streams of chunks so weights go straight into
// WebAssembly memory without a second copy in JS.
//
// A "fileset" is { label, text(name, signal), open(name, signal) } where
// open() resolves to { size (bytes, or undefined when unknown), chunks (an
// async iterable of Uint8Array) } and rejects with ModelLoadError when the
// file is missing; URL filesets also have cached(), which resolves once the
// model cache holds every file read. Node directories come from node-platform.js.
import { LmError, ModelLoadError, InvalidOptionError, abortError, isAbortError } from './errors.js';
import { cacheAvailable, cachingFetch } from './model-cache.js';

export const HF_HOST = 'https://huggingface.co';
const MAX_JSON_BYTES = 64 * 1024 * 1024; // tokenizer.json of large vocabularies is ~10 MB

/** "owner/name" or "owner/name@revision": a Hugging Face repo id (not a URL or a path). */
export function parseRepoId(s) {
  const m = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?:@([\w.\-/]+))?$/.exec(s);
  return m ? { owner: m[1], name: m[2], revision: m[3] } : null;
}

export function hfBaseUrl(repo, revision = 'main') {
  return `${HF_HOST}/${repo.owner}/${repo.name}/resolve/${encodeURIComponent(revision)}/`;
}

// `url` (and `size`) name a download: a transfer that breaks off (the
// browser's bare "network error") is then reported with the file it hit.
async function* readerChunks(reader, signal, { url, size } = {}) {
  let got = 0;
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      let result;
      try {
        result = await reader.read();
      } catch (e) {
        if (signal?.aborted) throw abortError(signal);
        if (!url || e instanceof LmError || isAbortError(e)) throw e;
        const of = size === undefined ? '' : ` of ${size}`;
        throw new ModelLoadError(
          `${url}: the download was interrupted after ${got}${of} bytes (${e?.message ?? e}); check your connection and load the model again`,
          { code: 'io' },
        );
      }
      if (result.done) return;
      got += result.value.byteLength;
      yield result.value;
    }
  } finally {
    reader.releaseLock?.();
  }
}

// --------------------------------------------------------------- URLs ---

/** Files under a base URL, fetched with `fetchFn`, through the model cache when `cache` is set. */
export function urlFileset(base, { fetchFn = globalThis.fetch, label = base, cache = false } = {}) {
  if (typeof fetchFn !== 'function') throw new ModelLoadError('fetch() is not available here: pass options.fetch');
  const cacheWrites = new Set();
  if (cache && cacheAvailable()) fetchFn = cachingFetch(fetchFn, cacheWrites);
  const baseUrl = base.endsWith('/') ? base : `${base}/`;
  async function request(name, signal) {
    const url = new URL(name, baseUrl).href;
    let response;
    try {
      response = await fetchFn(url, { signal });
    } catch (e) {
      if (isAbortError(e) || signal?.aborted) throw abortError(signal);
      throw new ModelLoadError(`${url}: could not fetch (${e?.message ?? e}); check the address and your connection`, { code: 'io' });
    }
    if (!response.ok) {
      response.body?.cancel?.().catch(() => {});
      const missing = response.status === 404 ? ' (no such file)' : '';
      throw new ModelLoadError(`${url}: HTTP ${response.status} ${response.statusText}${missing}`.trim(), { code: 'io' });
    }
    return { url, response };
  }
  return {
    label,
    /** Resolves once every file read so far is stored in the model cache (never rejects). */
    cached: () => Promise.all([...cacheWrites]),
    async text(name, signal) {
      const { url, response } = await request(name, signal);
      const length = Number(response.headers.get('content-length'));
      if (length > MAX_JSON_BYTES) throw new ModelLoadError(`${url}: ${length} bytes is too large for a JSON file`, { code: 'format' });
      return { text: await response.text(), bytes: length || undefined };
    },
    async open(name, signal) {
      const { url, response } = await request(name, signal);
      const type = response.headers.get('content-type') ?? '';
      if (/text\/html/i.test(type)) {
        response.body?.cancel?.().catch(() => {});
        throw new ModelLoadError(`${url}: the server sent an HTML page, not ${name}; is the URL right?`, { code: 'format' });
      }
      // With a content encoding, Content-Length is the compressed size: unknown.
      const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
      const length = response.headers.get('content-length');
      const size = !encoded && length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
      if (!response.body) throw new ModelLoadError(`${url}: empty response body`, { code: 'io' });
      const reader = response.body.getReader();
      return { size, url, chunks: readerChunks(reader, signal, { url, size }), close: () => reader.cancel().catch(() => {}) };
    },
  };
}

// ---------------------------------------------------------- in memory ---

function bytesOf(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

function isBlob(v) {
  return typeof Blob !== 'undefined' && v instanceof Blob;
}

/**
 * Files given as objects: a map { "config.json": File | Blob | ArrayBuffer |
 * Uint8Array | string | object, ... }, or an array / FileList of File objects
 * (named by file name, folders ignored).
 */
export function memoryFileset(files, label = 'the files given') {
  const map = new Map();
  const list = Array.isArray(files) || (typeof FileList !== 'undefined' && files instanceof FileList) ? [...files] : null;
  if (list) {
    for (const f of list) {
      if (!isBlob(f) || typeof f.name !== 'string')
        throw new InvalidOptionError('model files given as a list must be File objects');
      map.set(f.name.split('/').pop(), f);
    }
  } else {
    for (const [name, value] of Object.entries(files)) map.set(name.split('/').pop(), value);
  }
  const get = (name) => {
    if (!map.has(name)) throw new ModelLoadError(`${name} is missing from ${label}`, { code: 'io' });
    return map.get(name);
  };
  return {
    label,
    has: (name) => map.has(name),
    async text(name) {
      const v = get(name);
      if (typeof v === 'string') return { text: v, bytes: v.length };
      if (isBlob(v)) {
        if (v.size > MAX_JSON_BYTES) throw new ModelLoadError(`${name}: ${v.size} bytes is too large for a JSON file`, { code: 'format' });
        return { text: await v.text(), bytes: v.size };
      }
      const bytes = bytesOf(v);
      if (bytes) return { text: new TextDecoder().decode(bytes), bytes: bytes.length };
      if (v && typeof v === 'object') return { text: JSON.stringify(v), bytes: undefined };
      throw new InvalidOptionError(`${name} must be a File, Blob, ArrayBuffer, Uint8Array or string`);
    },
    async open(name, signal) {
      const v = get(name);
      if (isBlob(v)) {
        const reader = v.stream().getReader();
        return { size: v.size, chunks: readerChunks(reader, signal), close: () => reader.cancel().catch(() => {}) };
      }
      const bytes = bytesOf(v);
      if (!bytes) throw new InvalidOptionError(`${name} must be a File, Blob, ArrayBuffer or Uint8Array`);
      // Big arrays go in slices so progress and abort stay responsive.
      async function* slices() {
        const step = 16 << 20;
        for (let i = 0; i < bytes.length; i += step) {
          if (signal?.aborted) throw abortError(signal);
          yield bytes.subarray(i, Math.min(bytes.length, i + step));
        }
      }
      return { size: bytes.length, chunks: slices(), close() {} };
    },
  };
}

// ----------------------------------------------------------- resolving ---

/**
 * Whether a string source is a URL relative to the page ("./models/story/",
 * "/models/x/", "models/story/"): not absolute, not a Hugging Face repo id.
 */
export function isRelativeUrlSource(source) {
  if (typeof source !== 'string' || /^[a-z][a-z0-9+.-]*:/i.test(source)) return false;
  return !(parseRepoId(source) && !source.endsWith('/') && !source.startsWith('.'));
}

/**
 * Turns a loadModel() source into a fileset. Strings are, in order: a Node
 * directory or file: URL (via platform.localFileset), an http(s) URL or a
 * relative URL ("./models/story/", "models/story/"), a Hugging Face repo id
 * "owner/name[@revision]". Objects are files (see memoryFileset).
 */
export async function resolveSource(source, { platform, fetchFn, revision, cache } = {}) {
  if (source instanceof URL) source = source.href;
  if (typeof source === 'string') {
    if (source.length === 0) throw new InvalidOptionError('model source is an empty string');
    const local = await platform?.localFileset?.(source);
    if (local) return local;
    if (/^https?:\/\//i.test(source)) return urlFileset(source, { fetchFn, cache });
    const repo = isRelativeUrlSource(source) ? null : parseRepoId(source);
    if (repo) {
      const rev = repo.revision ?? revision ?? 'main';
      return urlFileset(hfBaseUrl(repo, rev), { fetchFn, cache, label: `huggingface.co/${repo.owner}/${repo.name}@${rev}` });
    }
    if (platform?.isNode) throw new ModelLoadError(`${source}: no such directory, and not a URL or a Hugging Face repo id ("owner/name")`, { code: 'io' });
    const base = globalThis.location?.href;
    if (!base) throw new InvalidOptionError(`cannot resolve the relative URL ${source} here; pass an absolute URL`);
    return urlFileset(new URL(source, base).href, { fetchFn, cache });
  }
  if (source && typeof source === 'object') return memoryFileset(source);
  throw new InvalidOptionError('model source must be a URL, a Hugging Face repo id, a directory path (Node), or files');
}

/** Shard names from model.safetensors.index.json: unique, in order of first use, plain file names. */
export function shardsFromIndex(text) {
  let index;
  try {
    index = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`model.safetensors.index.json: invalid JSON (${e.message})`, { code: 'format' });
  }
  const map = index?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map))
    throw new ModelLoadError('model.safetensors.index.json: no "weight_map" object', { code: 'format' });
  const names = [...new Set(Object.values(map))];
  if (names.length === 0) throw new ModelLoadError('model.safetensors.index.json: "weight_map" is empty', { code: 'format' });
  for (const n of names)
    if (typeof n !== 'string' || n === '' || n.includes('/') || n.includes('\\') || n === '..')
      throw new ModelLoadError(`model.safetensors.index.json: invalid shard file name ${JSON.stringify(n)}`, { code: 'format' });
  return names;
}
