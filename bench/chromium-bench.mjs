// The WebAssembly engine in headless Chromium, driven through playwright-core.
//
// A small in-process server serves the repository (web/lib, dist, bench) and
// the benchmark's model folders under /bench-models/<key>/, with the COOP /
// COEP headers that make the page cross-origin isolated, so the threaded
// (SharedArrayBuffer) build can be tried. bench/page.html loads the package's
// browser entry; each configuration runs in a fresh page, the engine in its
// Web Worker as in any page that uses the package.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Serves `root` and models { key: dir } at /bench-models/<key>/ with COOP/COEP headers. */
async function startServer(models) {
  const server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    let base = root;
    let rel = pathname;
    const m = /^\/bench-models\/([^/]+)(\/.*)$/.exec(pathname);
    if (m) {
      base = models[m[1]];
      rel = m[2];
    }
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-store',
    };
    const file = base && normalize(join(base, rel));
    let stat = null;
    try {
      if (file && file.startsWith(base + sep)) stat = statSync(file);
    } catch {
      stat = null;
    }
    if (!stat?.isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': stat.size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(ok);
      }),
  };
}

// "page.evaluate: Error: weights must be ...\n    at ..." -> "weights must be ..."
function pageError(e) {
  const text = String(e?.message ?? e);
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  return line.replace(/^page\.evaluate:\s*/, '').replace(/^(\w*Error):\s*/, '');
}

/**
 * Starts the server and the browser. models: { key: dir }. Returns
 * { version, crossOriginIsolated, machine(budgetMs, bufferMB), run(key, options), close() };
 * run() and machine() reject with the page's error message.
 */
export async function startChromiumBench(models) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM_PATH)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed (npm install)');
  }
  const server = await startServer(models);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

  async function withPage(fn) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${server.url}/bench/page.html`);
      await page.waitForFunction(() => window.benchReady === true || undefined, null, { timeout: 30_000 }).catch(() => {
        throw new Error(`the bench page did not start${errors.length ? `: ${errors.join('; ')}` : ''}`);
      });
      return await fn(page);
    } catch (e) {
      throw new Error(pageError(e));
    } finally {
      await page.close();
    }
  }

  const crossOriginIsolated = await withPage((page) => page.evaluate(() => window.bench.crossOriginIsolated));
  return {
    version: browser.version(),
    crossOriginIsolated,
    machine: (budgetMs, bufferMB) => withPage((page) => page.evaluate(([b, m]) => window.bench.machine(b, m), [budgetMs, bufferMB])),
    run: (key, options) =>
      withPage((page) => page.evaluate((o) => window.bench.run(o), { ...options, source: `${server.url}/bench-models/${key}/` })),
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
