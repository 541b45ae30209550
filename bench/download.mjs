// What a browser downloads to run lm-wasm (issue target: JS + wasm ≤ 300 KB
// gzipped): the gzipped size of every module reachable from the package's
// browser entry and its worker, through static imports, `import()` calls and
// `new URL(…, import.meta.url)` assets, for the single-thread build and the
// pthreads build (cross-origin isolated pages). The story page's own
// app.js / HTML / CSS are counted separately. Sizes use gzip -9, as a static
// host would serve them.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const REFERENCE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Files reachable from `entries` (absolute paths), following relative references. */
function reachable(entries, keep) {
  const seen = new Set();
  const stack = [...entries];
  while (stack.length) {
    const file = stack.pop();
    if (seen.has(file) || !keep(file)) continue;
    seen.add(file);
    if (!/\.(m?js)$/.test(file)) continue;
    const text = readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, ''); // not the usage comments
    for (const m of text.matchAll(REFERENCE)) stack.push(resolve(dirname(file), m[1]));
  }
  return [...seen];
}

const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;

/** { variants: { single, threads }: { files: [{ path, bytes, gzip }], gzip, bytes }, page: {...} } */
export function downloadSizes(root) {
  const lib = join(root, 'web/lib');
  const entries = [join(lib, 'index.js'), join(lib, 'worker.js')];
  // engine.js names both builds; a page loads one of them. The pthreads
  // glue starts its workers from lm-wasm-mt.worker.js (a name, not a URL literal).
  const single = summarize(root, reachable(entries, (f) => !/lm-wasm-mt/.test(f)));
  const threads = summarize(
    root,
    reachable(entries, (f) => !/dist\/lm-wasm\.(mjs|wasm)$/.test(f)).concat(join(root, 'dist/lm-wasm-mt.worker.js')),
  );
  const app = join(root, 'web/app');
  const page = summarize(root, ['index.html', 'app.js', 'style.css'].map((f) => join(app, f)));
  return { single, threads, page };
}

function summarize(root, files) {
  const rows = [...new Set(files)].sort().map((f) => ({ path: relative(root, f), bytes: readFileSync(f).length, gzip: gz(f) }));
  return { files: rows, bytes: rows.reduce((s, r) => s + r.bytes, 0), gzip: rows.reduce((s, r) => s + r.gzip, 0) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
  const d = downloadSizes(root);
  for (const [name, v] of Object.entries(d)) {
    console.log(`${name}: ${(v.gzip / 1024).toFixed(1)} KB gzipped (${(v.bytes / 1024).toFixed(1)} KB)`);
    for (const f of v.files) console.log(`  ${f.path}  ${(f.gzip / 1024).toFixed(1)} KB`);
  }
}
