// Shared infrastructure of the browser suites (page.test.js,
// robustness.test.js): the system Chromium and its flags, the site built into
// a temp folder, an in-process static server that logs every request (and can
// be told to misbehave), console-error collection, and helpers that drive the
// story page.
//
// Uses the system Chromium (/usr/bin/chromium, or $CHROMIUM_PATH) through
// playwright-core; it never downloads a browser, and a missing Chromium is a
// failure, not a skip.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, STORY_DIR } from '../js/support.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const RESULTS = join(ROOT, 'test-results');
export const MODEL_PATH = '/models/story/model.safetensors';
export const MODEL_SIZE = statSync(join(STORY_DIR, 'model.safetensors')).size;
// The files a load reads (and the model cache keeps): generation_config.json
// and tokenizer_config.json (its chat template) are optional; the story model has both.
export const STORY_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
export const STORY_BYTES = STORY_FILES.reduce((s, f) => s + statSync(join(STORY_DIR, f)).size, 0);
export const T = 30_000; // generous wait for anything the page does
export const TEST = { timeout: 90_000 };

// The page's own byte formatting (app.js), to find figures in its texts.
export function formatBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 2 : 1)} ${units[i]}`;
}

// ------------------------------------------------------------- server ---

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

/** The ETag the server sends for a file (scripts/serve.mjs's rule). */
export const etagOf = (stat) => `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;

/**
 * scripts/serve.mjs's behaviour (MIME types, ETag and 304s, directory
 * redirects), plus a log of every request: { method, path, status, bytes
 * (body bytes sent), complete, conditional }. Model files are sent with
 * `cache-control: no-store`, so the browser's HTTP cache cannot hide a second
 * download: only lm-wasm's own model cache can avoid one.
 *
 * Tests can change it while it runs:
 * - setDown(true): every connection is dropped, as when the network is gone;
 * - setHeaders({ ... }): extra headers on every response (CSP, COOP/COEP);
 * - setHandler(fn): fn(ctx) sees each logged request first and returns true
 *   when it answered it itself. ctx = { req, res, entry, pathname, file, stat
 *   (null when there is no such file), headers (the ones the server would
 *   send, with etag / last-modified / content-type for files), send(status,
 *   headers, body) }. A handler that streams a body adds to entry.bytes.
 */
export async function startSiteServer(root) {
  const log = [];
  const state = { down: false, headers: {}, handler: null };
  const server = createServer((req, res) => {
    if (state.down) return req.socket.destroy();
    const pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    // conditional: the If-None-Match (or If-Modified-Since) a revalidation sent, else null.
    const conditional = req.headers['if-none-match'] ?? req.headers['if-modified-since'] ?? null;
    const entry = { method: req.method, path: pathname, status: 0, bytes: 0, complete: false, conditional };
    log.push(entry);
    res.on('close', () => (entry.complete = res.writableFinished));
    const send = (status, headers, body) => {
      entry.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    const headers = {
      'cache-control': pathname.startsWith('/models/') ? 'no-store' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...state.headers,
    };
    const file = normalize(join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname));
    let stat = null;
    try {
      if (file === root || file.startsWith(root + sep)) stat = statSync(file);
    } catch {
      stat = null;
    }
    if (stat?.isFile())
      Object.assign(headers, { etag: etagOf(stat), 'last-modified': stat.mtime.toUTCString(), 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    if (state.handler?.({ req, res, entry, pathname, file, stat: stat?.isFile() ? stat : null, headers, send })) return;
    if (stat?.isDirectory()) return send(301, { location: `${req.url.split('?')[0]}/` });
    if (!stat?.isFile()) return send(404, { ...headers, 'content-type': 'text/plain' }, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { ...headers, 'content-type': 'text/plain' }, 'method not allowed');
    if (req.headers['if-none-match'] === headers.etag) return send(304, headers);
    entry.status = 200;
    res.writeHead(200, { ...headers, 'content-length': stat.size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file)
      .on('data', (chunk) => (entry.bytes += chunk.length))
      .pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    setDown: (down) => (state.down = down),
    setHeaders: (headers = {}) => (state.headers = headers),
    setHandler: (fn = null) => (state.handler = fn),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

/** Full-body downloads of a file (the story weights by default) in log entries from `from` on. */
export const weightDownloads = (log, from = 0, path = MODEL_PATH, size = MODEL_SIZE) =>
  log.slice(from).filter((e) => e.path === path && e.method === 'GET' && e.status === 200 && e.bytes === size);

// --------------------------------------------------------- site, browser ---

/** Fails with a clear message when the system Chromium is missing (never a skip, never a download). */
export function requireChromium() {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium was not found at ${CHROMIUM}: install it (e.g. apt-get install chromium) or set CHROMIUM_PATH. ` +
        'These tests use the system browser and never download one.',
    );
}

/** Builds the site with scripts/build-site.mjs into `dir`, with the story model linked at models/story/. */
export function buildSite(dir) {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-site.mjs'), dir], { encoding: 'utf8' });
  assert.equal(built.status, 0, `scripts/build-site.mjs failed:\n${built.stdout}\n${built.stderr}`);
  mkdirSync(join(dir, 'models'), { recursive: true });
  symlinkSync(STORY_DIR, join(dir, 'models/story'), 'dir');
  return dir;
}

export function launchBrowser() {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Collects console errors, uncaught exceptions, crashes and dialogs of every
 * page of the contexts it watches: problems.list holds { test, kind, text,
 * url }. Set problems.test to the running test's name, and problems.expected
 * to regexps of console errors (text or URL) a test provokes on purpose.
 */
export class Problems {
  list = [];
  test = '(setup)';
  expected = [];

  begin(name) {
    this.test = name;
    this.expected = [];
  }

  watch(context) {
    const isExpected = (text, url) => this.expected.some((re) => re.test(text) || re.test(url ?? ''));
    context.on('console', (m) => {
      if (m.type() !== 'error') return;
      const url = m.location()?.url;
      if (!isExpected(m.text(), url)) this.list.push({ test: this.test, kind: `console.error${m.worker() ? ' (worker)' : ''}`, text: m.text(), url });
    });
    context.on('weberror', (e) => this.list.push({ test: this.test, kind: 'uncaught exception', text: String(e.error()?.stack ?? e.error()) }));
    context.on('page', (page) => {
      page.on('crash', () => this.list.push({ test: this.test, kind: 'crash', text: page.url() }));
      page.on('dialog', (d) => {
        this.list.push({ test: this.test, kind: 'dialog', text: `${d.type()}: ${d.message()}` });
        d.dismiss().catch(() => {});
      });
    });
    return context;
  }

  /** The problems as one readable text, one per line. */
  describe(list = this.list) {
    return list.map((p) => `[${p.test}] ${p.kind}: ${p.text}${p.url ? ` (${p.url})` : ''}`).join('\n');
  }
}

// ------------------------------------------------------- page helpers ---

/** The options the page sends for GREEDY below, for the Node API's reference text. */
export const PAGE_GREEDY_OPTIONS = { topK: 40, topP: 0.9, repetitionPenalty: 1, temperature: 0, maxTokens: 64, seed: 1, stop: [] };

export const GREEDY = { prompt: 'Once upon a time', temperature: 0, maxTokens: 64, stop: '', seed: 1 };
export const LONG = { prompt: 'Once upon a time', temperature: 1, topK: 0, topP: 1, maxTokens: 2000, stop: '', seed: 56 };

/** The page's #error text, '' while it is hidden. */
export const errorText = (page) =>
  page.evaluate(() => (document.getElementById('error').hidden ? '' : document.getElementById('error').textContent));

/** Waits for "Ready" (or a load error, reported as a failure). */
export async function waitReady(page) {
  await page.waitForFunction(
    () => document.getElementById('model-status').textContent.startsWith('Ready') || !document.getElementById('error').hidden,
    null,
    { timeout: T },
  );
  assert.equal(await errorText(page), '', 'the model loads without an error');
  assert.match(await page.textContent('#model-status'), /^Ready/);
  assert.equal(await page.isEnabled('#generate'), true, 'Generate is enabled once the model is ready');
}

/** Waits until #error shows a message; returns it. */
export async function waitError(page) {
  await page.waitForFunction(() => !document.getElementById('error').hidden && document.getElementById('error').textContent, null, { timeout: T });
  return page.textContent('#error');
}

export async function setSettings(page, s) {
  const inputs = {
    prompt: '#prompt',
    maxTokens: '#max-tokens',
    temperature: '#temperature',
    topK: '#top-k',
    topP: '#top-p',
    repetitionPenalty: '#repetition-penalty',
    seed: '#seed',
    stop: '#stop-text',
  };
  for (const [key, value] of Object.entries(s)) await page.fill(inputs[key], String(value));
}

export const finished = () => /^\d+ \(/.test(document.getElementById('stat-tokens').textContent) && !document.getElementById('generate').disabled;

/** The story as the page shows it. */
export const readStory = (page) =>
  page.evaluate(() => {
    const story = document.getElementById('story');
    return {
      text: story.textContent,
      prompt: story.querySelector('span.prompt')?.textContent ?? null,
      tokens: [...story.querySelectorAll('span.token')].map((s) => s.textContent),
      stat: document.getElementById('stat-tokens').textContent,
    };
  });

/** Clicks Generate and waits until the generation has ended; returns the story. */
export async function generate(page) {
  // A marker that generate() overwrites at once, so a finished earlier run is not mistaken for this one.
  await page.evaluate(() => (document.getElementById('stat-tokens').textContent = 'pending'));
  await page.click('#generate');
  await page.waitForFunction(
    () =>
      (/^\d+ \(/.test(document.getElementById('stat-tokens').textContent) && !document.getElementById('generate').disabled) ||
      !document.getElementById('error').hidden,
    null,
    { timeout: T },
  );
  assert.equal(await errorText(page), '', 'the generation ends without an error');
  return readStory(page);
}

export const tokenCount = (page) => page.evaluate(() => document.querySelectorAll('#story span.token').length);
