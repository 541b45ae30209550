// What the engine needs from Node: the .wasm bytes from disk (Emscripten's
// loader would fetch() a file path), and model folders on disk.
import { readFile, stat, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ModelLoadError, abortError } from './errors.js';

const MAX_JSON_BYTES = 64 * 1024 * 1024;

async function isDirectory(path) {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Model files in a local folder, read in chunks straight into wasm memory. */
export function directoryFileset(dir) {
  const pathOf = (name) => `${dir.replace(/\/+$/, '')}/${name}`;
  const missing = (name, e) =>
    new ModelLoadError(`${pathOf(name)}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { code: 'io' });
  return {
    label: dir,
    async text(name) {
      let size;
      try {
        size = (await stat(pathOf(name))).size;
      } catch (e) {
        throw missing(name, e);
      }
      if (size > MAX_JSON_BYTES) throw new ModelLoadError(`${pathOf(name)}: ${size} bytes is too large for a JSON file`, { code: 'format' });
      return { text: await readFile(pathOf(name), 'utf8'), bytes: size };
    },
    async open(name, signal) {
      let size;
      try {
        size = (await stat(pathOf(name))).size;
      } catch (e) {
        throw missing(name, e);
      }
      // The file is opened when reading starts, so a load that fails before
      // reading (a bad config, a memory budget) leaves nothing open.
      async function* chunks() {
        let handle;
        try {
          handle = await open(pathOf(name), 'r');
        } catch (e) {
          throw missing(name, e);
        }
        try {
          const step = 4 << 20;
          const scratch = new Uint8Array(Math.min(step, Math.max(size, 1)));
          for (let pos = 0; pos < size; ) {
            if (signal?.aborted) throw abortError(signal);
            const { bytesRead } = await handle.read(scratch, 0, Math.min(step, size - pos), pos);
            if (bytesRead === 0) break; // file shrank: the caller reports the truncation
            pos += bytesRead;
            yield scratch.subarray(0, bytesRead);
          }
        } finally {
          await handle.close();
        }
      }
      return { size, url: pathOf(name), chunks: chunks(), close() {} };
    },
  };
}

export const nodePlatform = {
  isNode: true,
  moduleOptions: { nodeRequire: createRequire(import.meta.url) },
  readWasm: (url) => readFile(url),
  yieldNow: () => new Promise((resolve) => setImmediate(resolve)),
  async localFileset(source) {
    const path = source.startsWith('file:') ? fileURLToPath(source) : source;
    if (/^https?:\/\//i.test(source)) return null;
    return (await isDirectory(path)) ? directoryFileset(path) : null;
  },
};
