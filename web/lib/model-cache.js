// The model file cache (browser Cache API): downloaded files are kept and
// reused on later visits and offline.
//
// Rules that keep it from ever serving a wrong or broken model:
// * a response is stored only when its whole body arrived with exactly the
//   announced length (Cache.put of a stream that errors stores nothing), and
//   never when it is an HTML page;
// * a cached copy is revalidated when the network is reachable (ETag /
//   Last-Modified conditional request, else a HEAD comparing the length), so
//   a file replaced on the server is downloaded again;
// * a cached copy whose body turns out shorter than recorded is deleted and
//   reported, and the next load downloads it again.
import { ModelLoadError } from './errors.js';

export const CACHE_NAME = 'lm-wasm-models-v1';
const BYTES_HEADER = 'x-lm-wasm-bytes';

export const cacheAvailable = () => typeof caches !== 'undefined' && typeof caches.open === 'function';

// A pass-through stream that errors at the end when the byte count is not
// `expected`; onMismatch(seen) may clean up and returns the error message.
function lengthChecked(body, expected, onMismatch) {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        controller.enqueue(chunk);
      },
      async flush(controller) {
        if (expected !== undefined && seen !== expected) {
          const message = (await onMismatch?.(seen)) ?? `expected ${expected} bytes, got ${seen}`;
          controller.error(new ModelLoadError(message, { code: 'io' }));
        }
      },
    }),
  );
}

const lengthOf = (headers) => {
  const v = headers.get('content-length');
  const encoded = (headers.get('content-encoding') ?? 'identity') !== 'identity';
  return !encoded && v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
};

/**
 * A fetch(url, { signal }) that serves model files through the cache.
 * Only GETs of whole files (status 200) are stored. `writes` (a Set) holds
 * the cache writes still in progress: each settles once its file is stored
 * (or dropped), so a caller can wait until listCachedModels() shows them.
 */
export function cachingFetch(fetchFn, writes = new Set()) {
  return async function fetchThroughCache(url, { signal } = {}) {
    const cache = await caches.open(CACHE_NAME);
    const hit = await cache.match(url);
    if (hit) {
      const bytes = Number(hit.headers.get(BYTES_HEADER));
      const fromCache = () =>
        new Response(
          lengthChecked(hit.body, bytes, async (seen) => {
            await cache.delete(url);
            return `${url}: the cached copy is incomplete (${seen} of ${bytes} bytes) and was removed; load the model again to download it`;
          }),
          { status: 200, headers: hit.headers },
        );
      // Revalidate: unchanged (or unreachable) -> the cached copy; changed -> download.
      const etag = hit.headers.get('etag');
      const modified = hit.headers.get('last-modified');
      let response;
      try {
        if (etag || modified) {
          const headers = etag ? { 'if-none-match': etag } : { 'if-modified-since': modified };
          response = await fetchFn(url, { signal, headers });
          if (response.status === 304) return fromCache();
        } else {
          const head = await fetchFn(url, { signal, method: 'HEAD' });
          if (head.ok && lengthOf(head.headers) === bytes) return fromCache();
        }
      } catch (e) {
        if (signal?.aborted) throw e;
        return fromCache(); // offline: the cached copy is all there is
      }
      if (response && !response.ok) return response; // e.g. now 404: report it, keep nothing stale
      await cache.delete(url);
      return store(cache, url, response ?? (await fetchFn(url, { signal })), writes);
    }
    return store(cache, url, await fetchFn(url, { signal }), writes);
  };
}

// Streams `response` to the caller while a copy goes into the cache; the
// copy is kept only if the body is complete.
function store(cache, url, response, writes) {
  if (response.status !== 200 || !response.body) return response;
  const bytes = lengthOf(response.headers);
  if (bytes === undefined) return response; // unknown length: cannot verify, do not cache
  // An HTML page (a host's start or error page answering 200) is never a model file.
  if (/text\/html/i.test(response.headers.get('content-type') ?? '')) return response;
  const [forCaller, forCache] = response.body.tee();
  const headers = new Headers(response.headers);
  headers.set(BYTES_HEADER, String(bytes));
  const write = cache
    .put(url, new Response(lengthChecked(forCache, bytes), { status: 200, headers }))
    .catch(() => cache.delete(url))
    .catch(() => {})
    .finally(() => writes.delete(write));
  writes.add(write);
  return new Response(forCaller, { status: 200, statusText: response.statusText, headers: response.headers });
}

/** Cached models: [{ source (base URL), files: [{ name, bytes }], bytes }], largest first. */
export async function listCachedModels() {
  if (!cacheAvailable()) return [];
  const cache = await caches.open(CACHE_NAME);
  const models = new Map();
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    const url = new URL(request.url);
    const name = url.pathname.split('/').pop();
    const source = url.href.slice(0, url.href.length - name.length);
    const bytes = Number(response?.headers.get(BYTES_HEADER) ?? 0);
    if (!models.has(source)) models.set(source, { source, files: [], bytes: 0 });
    const m = models.get(source);
    m.files.push({ name, bytes });
    m.bytes += bytes;
  }
  return [...models.values()].sort((a, b) => b.bytes - a.bytes);
}

/** Removes every cached file of the model at `source` (a base URL as listCachedModels reports it). */
export async function deleteCachedModel(source) {
  if (!cacheAvailable()) return 0;
  const cache = await caches.open(CACHE_NAME);
  let removed = 0;
  for (const request of await cache.keys()) {
    const name = new URL(request.url).pathname.split('/').pop();
    if (request.url.slice(0, request.url.length - name.length) === source && (await cache.delete(request))) removed++;
  }
  return removed;
}
