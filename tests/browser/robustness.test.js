// The story page when things go wrong, in headless Chromium: a download cut
// off halfway, an HTML page instead of the weights, a truncated copy in the
// model cache, a model file replaced on the server between visits, the
// strict Content-Security-Policy with cross-origin isolation, and the memory
// figure shown before the weights arrive.
//
//   node --test tests/browser/robustness.test.js
//
// Every test runs in a fresh browser context (an empty profile: no cached
// models, no service worker) against the site built by scripts/build-site.mjs
// and served by support.js's logging server, which the tests make misbehave.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CSP } from '../../scripts/csp.mjs';
import { loadModel } from '../../web/lib/node.js';
import { STORY_DIR, readSafetensors, safetensorsBytes } from '../js/support.js';
import {
  GREEDY,
  MODEL_PATH,
  MODEL_SIZE,
  PAGE_GREEDY_OPTIONS,
  Problems,
  STORY_FILES,
  T,
  TEST,
  buildSite,
  etagOf,
  formatBytes,
  generate,
  launchBrowser,
  requireChromium,
  setSettings,
  startSiteServer,
  waitError,
  waitReady,
  weightDownloads,
} from './support.js';

const TMP = mkdtempSync(join(tmpdir(), 'lm-wasm-robustness-'));
const tracker = new Problems();
const WEIGHTS = readFileSync(join(STORY_DIR, 'model.safetensors'));
const MUTABLE_PATH = '/models/mutable/model.safetensors';
const EMBED_PROMPT = 'Once upon a time, there was a little dragon';
let shared; // { site, server, browser, reference, perturbed: { bytes, greedy }, memoryNeeded }
const contexts = new Set();

// The story model with the sign of one layer's MLP output flipped: a valid
// model of the same shape that writes a different story.
function perturbedWeights() {
  const tensors = readSafetensors(new Uint8Array(WEIGHTS));
  const target = tensors.find((t) => t.name === 'model.layers.1.mlp.down_proj.weight');
  assert.equal(target?.dtype, 'F32', 'the story model has an F32 model.layers.1.mlp.down_proj.weight');
  for (let i = 3; i < target.data.length; i += 4) target.data[i] ^= 0x80; // little-endian F32: the sign is the top bit of byte 3
  return Buffer.from(safetensorsBytes(tensors));
}

let setupPromise;
const setup = () => (setupPromise ??= doSetup());

async function doSetup() {
  requireChromium();
  const site = buildSite(join(TMP, 'site'));
  // A model folder the tests may change: a copy of the story model.
  const mutable = join(site, 'models/mutable');
  mkdirSync(mutable);
  for (const f of STORY_FILES) copyFileSync(join(STORY_DIR, f), join(mutable, f));
  // The replacement weights, and a folder holding them for the Node API's reference.
  const perturbedDir = join(TMP, 'perturbed');
  mkdirSync(perturbedDir);
  for (const f of STORY_FILES) if (f !== 'model.safetensors') copyFileSync(join(STORY_DIR, f), join(perturbedDir, f));
  const bytes = perturbedWeights();
  writeFileSync(join(perturbedDir, 'model.safetensors'), bytes);

  const server = await startSiteServer(site);

  // Reference texts from the Node API, with the options the page sends.
  const story = await loadModel(STORY_DIR);
  const reference = {
    greedy: (await story.generate(GREEDY.prompt, PAGE_GREEDY_OPTIONS)).text,
    embed: (await story.generate(EMBED_PROMPT, { maxTokens: 160, seed: 7, stop: ['<|end_story|>'] })).text,
  };
  const memoryNeeded = story.info.memoryEstimate.total;
  await story.dispose();
  const other = await loadModel(perturbedDir);
  const perturbed = { bytes, greedy: (await other.generate(GREEDY.prompt, PAGE_GREEDY_OPTIONS)).text };
  await other.dispose();

  const browser = await launchBrowser();
  shared = { site, server, browser, reference, perturbed, memoryNeeded };
  return shared;
}

after(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await shared?.browser.close().catch(() => {});
  await shared?.server.close();
  rmSync(TMP, { recursive: true, force: true });
});

// ------------------------------------------------------------ helpers ---

async function begin(t) {
  tracker.begin(t.name);
  const s = await setup();
  s.server.setHandler(null);
  return s;
}

/** A page in a fresh browser context (empty profile), its problems collected. */
async function freshPage(baseUrl, path = '/', { init } = {}) {
  const context = await shared.browser.newContext({ viewport: { width: 1100, height: 900 } });
  contexts.add(context);
  context.setDefaultTimeout(T);
  tracker.watch(context);
  const page = await context.newPage();
  if (init) await page.addInitScript(init);
  await page.goto(`${baseUrl}${path}`);
  return { context, page };
}

async function closeContext(context) {
  contexts.delete(context);
  await context.close();
}

/** The model cache as the page sees it: { url: body bytes }. */
const cacheContents = (page) =>
  page.evaluate(async () => {
    const cache = await caches.open('lm-wasm-models-v1');
    const out = {};
    for (const request of await cache.keys()) out[request.url] = (await (await cache.match(request)).arrayBuffer()).byteLength;
    return out;
  });

/** The page's state after a failed load: a readable one-line alert, no model, Load usable. */
async function checkFailedLoad(page) {
  const message = await waitError(page);
  assert.ok(await page.isVisible('#error'), 'the error is visible');
  assert.equal(await page.getAttribute('#error', 'role'), 'alert');
  assert.doesNotMatch(message, /undefined|\[object |\bat \w+ \(|\n/, `a readable one-line message: ${message}`);
  assert.equal(await page.textContent('#model-status'), 'No model loaded.');
  assert.equal(await page.isDisabled('#generate'), true, 'Generate is disabled without a model');
  assert.equal(await page.isEnabled('#load'), true, 'Load can be used again');
  return message;
}

/** Clicks Load and waits for the next outcome (Ready or an error). */
async function clickLoad(page) {
  await page.evaluate(() => (document.getElementById('model-status').textContent = 'pending'));
  await page.click('#load');
  await page.waitForFunction(
    () => {
      const status = document.getElementById('model-status').textContent;
      return status.startsWith('Ready') || (!document.getElementById('error').hidden && status === 'No model loaded.');
    },
    null,
    { timeout: T },
  );
}

/** Loads the model again with a working server; the page writes the reference greedy story. */
async function recover(page, expected = shared.reference.greedy) {
  await clickLoad(page);
  await waitReady(page);
  assert.equal(await page.isHidden('#error'), true, 'the error is cleared');
  await setSettings(page, GREEDY);
  const story = await generate(page);
  assert.equal(story.text, GREEDY.prompt + expected, 'after recovering, the page writes the Node API story');
}

function assertNoProblems(t) {
  const mine = tracker.list.filter((p) => p.test === t.name);
  assert.deepEqual(mine, [], tracker.describe(mine));
}

// -------------------------------------------------------------- tests ---

test('a download cut off halfway: a readable error, nothing cached, and Load works once the server is fixed', TEST, async (t) => {
  const { server } = await begin(t);
  const half = Math.floor(MODEL_SIZE / 2);
  const cut = []; // the cut-off responses
  server.setHandler(({ req, res, entry, pathname, headers }) => {
    if (pathname !== MODEL_PATH || req.method !== 'GET') return false;
    entry.status = 200;
    res.writeHead(200, { ...headers, 'content-length': MODEL_SIZE });
    res.write(WEIGHTS.subarray(0, half), () => {
      entry.bytes = half;
      res.destroy(); // the connection drops with half the announced body sent
    });
    cut.push(entry);
    return true;
  });
  // Chromium may log the broken transfer itself (it does not at the time of writing).
  tracker.expected = [/ERR_CONTENT_LENGTH_MISMATCH/];

  const { context, page } = await freshPage(server.url, '/'); // loads ./models/story/ at once
  const message = await checkFailedLoad(page);
  t.diagnostic(`error shown: ${message}`);
  assert.equal(cut.length, 1, 'the weights were requested once, and cut off');
  assert.match(message, /model\.safetensors/, `the message names the file: ${message}`);
  assert.match(message, /truncated|interrupted|incomplete|cut off|lost|ended/i, `the message says the download broke off: ${message}`);
  const modelUrl = `${server.url}${MODEL_PATH}`;
  let cached = await cacheContents(page);
  assert.equal(cached[modelUrl], undefined, `no cache entry for the cut-off file: ${JSON.stringify(cached)}`);

  // Still broken: the second attempt downloads again (no cached copy to revalidate) and fails the same way.
  await clickLoad(page);
  await checkFailedLoad(page);
  assert.equal(cut.length, 2, 'a second attempt requested the weights again');
  assert.equal(cut[1].conditional, null, 'not a revalidation: nothing of the broken download was kept');
  cached = await cacheContents(page);
  assert.equal(cached[modelUrl], undefined, `still no cache entry for the cut-off file: ${JSON.stringify(cached)}`);

  server.setHandler(null);
  const mark = server.log.length;
  await recover(page);
  assert.equal(weightDownloads(server.log, mark).length, 1, 'the fixed server sent the whole file');
  cached = await cacheContents(page);
  assert.equal(cached[modelUrl], MODEL_SIZE, 'now the complete file is cached');
  await closeContext(context);
  assertNoProblems(t);
});

test('an HTML page instead of model.safetensors: a readable error, nothing cached, recovery', TEST, async (t) => {
  const { server } = await begin(t);
  // A host that answers unknown paths with its start page (a single-page-app fallback).
  const html = '<!doctype html><html><head><title>Welcome</title></head><body><h1>Welcome to our site</h1><p>Page not found.</p></body></html>';
  const served = [];
  server.setHandler(({ req, res, entry, pathname, headers }) => {
    if (pathname !== MODEL_PATH || req.method !== 'GET') return false;
    served.push(entry);
    entry.status = 200;
    entry.bytes = Buffer.byteLength(html);
    res.writeHead(200, { ...headers, etag: '"start-page"', 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
    res.end(html);
    return true;
  });

  const { context, page } = await freshPage(server.url, '/');
  const message = await checkFailedLoad(page);
  t.diagnostic(`error shown: ${message}`);
  assert.match(message, /model\.safetensors/, `the message names the file: ${message}`);
  assert.match(message, /HTML/, `the message says an HTML page came instead: ${message}`);
  const modelUrl = `${server.url}${MODEL_PATH}`;

  // Again, while the server still sends the page: a fresh request, not a
  // revalidation of a stored copy of the HTML page.
  await clickLoad(page);
  await checkFailedLoad(page);
  assert.equal(served.length, 2, 'a second attempt requested the weights again');
  assert.equal(served[1].conditional, null, `the HTML page was not stored as the weights (revalidated with ${served[1].conditional})`);
  const cached = await cacheContents(page);
  assert.equal(cached[modelUrl], undefined, `no cache entry for the HTML page: ${JSON.stringify(cached)}`);

  server.setHandler(null);
  const mark = server.log.length;
  await recover(page);
  assert.equal(weightDownloads(server.log, mark).length, 1, 'the fixed server sent the whole file');
  assert.equal((await cacheContents(page))[modelUrl], MODEL_SIZE, 'now the real file is cached');
  await closeContext(context);
  assertNoProblems(t);
});

test('a truncated copy in the model cache: a clear error or a fresh download, never a wrong model', TEST, async (t) => {
  const { server } = await begin(t);
  const { context, page } = await freshPage(server.url, '/');
  await waitReady(page);
  const modelUrl = `${server.url}${MODEL_PATH}`;
  await page.waitForFunction((url) => document.getElementById('cached-list').textContent.includes(url.slice(0, url.lastIndexOf('/') + 1)), modelUrl);
  assert.equal((await cacheContents(page))[modelUrl], MODEL_SIZE, 'the first visit cached the weights');

  // Replace the cached weights with their first half, under the real file's
  // headers (ETag, Content-Length) and a record claiming the full size.
  const planted = await page.evaluate(async (url) => {
    const cache = await caches.open('lm-wasm-models-v1');
    const good = await cache.match(url);
    const headers = new Headers(good.headers);
    const body = await good.arrayBuffer();
    await cache.put(url, new Response(body.slice(0, body.byteLength >> 1), { status: 200, headers }));
    const bad = await cache.match(url);
    return { bytes: (await bad.arrayBuffer()).byteLength, claimed: bad.headers.get('x-lm-wasm-bytes'), etag: bad.headers.get('etag') };
  }, modelUrl);
  assert.equal(planted.bytes, MODEL_SIZE >> 1);
  assert.equal(Number(planted.claimed), MODEL_SIZE, 'the planted entry claims the full size');
  assert.equal(planted.etag, etagOf(statSync(join(STORY_DIR, 'model.safetensors'))), 'the planted entry has the file’s current ETag');

  const mark = server.log.length;
  await clickLoad(page);
  const revalidations = server.log.slice(mark).filter((e) => e.path === MODEL_PATH);
  assert.ok(
    revalidations.length >= 1 && revalidations[0].status === 304 && revalidations[0].conditional === planted.etag,
    `the server answered the revalidation with 304, so the cached copy was used: ${JSON.stringify(revalidations)}`,
  );
  const message = await page.evaluate(() => (document.getElementById('error').hidden ? '' : document.getElementById('error').textContent));
  t.diagnostic(message ? `error shown: ${message}` : 'no error: the weights were downloaded again');
  if (message) {
    // A clear error, and the bad copy is gone.
    assert.match(message, /model\.safetensors/, `the message names the file: ${message}`);
    assert.match(message, /incomplete|truncated/i, `the message says the copy is incomplete: ${message}`);
    assert.equal(await page.textContent('#model-status'), 'No model loaded.');
    assert.equal((await cacheContents(page))[modelUrl], undefined, 'the truncated entry was removed');
    const again = server.log.length;
    await recover(page);
    assert.equal(weightDownloads(server.log, again).length, 1, 'the next load downloaded the weights again');
  } else {
    // Or a fresh download right away, with the right story.
    assert.equal(weightDownloads(server.log, mark).length, 1, 'with no error, the weights were downloaded again');
    await waitReady(page);
    await setSettings(page, GREEDY);
    assert.equal((await generate(page)).text, GREEDY.prompt + shared.reference.greedy);
  }
  assert.equal((await cacheContents(page))[modelUrl], MODEL_SIZE, 'the complete file is cached again');
  await closeContext(context);
  assertNoProblems(t);
});

test('a model file replaced between visits: the new weights are downloaded and used, never the old ones', TEST, async (t) => {
  const { server, site, reference, perturbed } = await begin(t);
  assert.notEqual(perturbed.greedy, reference.greedy, 'the replacement model writes a different greedy story (Node API)');
  const file = join(site, 'models/mutable/model.safetensors');
  const modelUrl = `${server.url}${MUTABLE_PATH}`;

  const { context, page } = await freshPage(server.url, '/?model=./models/mutable/');
  await waitReady(page);
  assert.equal(weightDownloads(server.log, 0, MUTABLE_PATH, MODEL_SIZE).length, 1, 'the first visit downloaded the weights');
  await setSettings(page, GREEDY);
  assert.equal((await generate(page)).text, GREEDY.prompt + reference.greedy, 'the first visit writes the original model’s story');
  assert.equal((await cacheContents(page))[modelUrl], MODEL_SIZE, 'and cached the weights');

  // The server now has another model under the same name (new ETag, new mtime).
  const before = statSync(file);
  writeFileSync(file, perturbed.bytes);
  const later = new Date(before.mtimeMs + 60_000);
  utimesSync(file, later, later);
  const replaced = statSync(file);
  assert.notEqual(etagOf(replaced), etagOf(before));

  const mark = server.log.length;
  await page.reload();
  await waitReady(page);
  const requests = server.log.slice(mark).filter((e) => e.path === MUTABLE_PATH);
  assert.equal(
    weightDownloads(server.log, mark, MUTABLE_PATH, perturbed.bytes.length).length,
    1,
    `the new weights were downloaded in full: ${JSON.stringify(requests)}`,
  );
  assert.equal(requests[0].conditional, etagOf(before), 'the cached copy was revalidated with its ETag');
  await setSettings(page, GREEDY);
  const story = await generate(page);
  assert.notEqual(story.text, GREEDY.prompt + reference.greedy, 'not the old model’s story');
  assert.equal(story.text, GREEDY.prompt + perturbed.greedy, 'the Node API’s story for the new file');
  const entry = await page.evaluate(async (url) => {
    const r = await (await caches.open('lm-wasm-models-v1')).match(url);
    return { etag: r.headers.get('etag'), bytes: (await r.arrayBuffer()).byteLength };
  }, modelUrl);
  assert.deepEqual(entry, { etag: etagOf(replaced), bytes: perturbed.bytes.length }, 'the cache holds the new file');
  await closeContext(context);
  assertNoProblems(t);
});

test('strict CSP with COOP/COEP: no violations, threads available, the story and the embed render', TEST, async (t) => {
  const { site, reference } = await begin(t);
  // A server of its own: every response carries scripts/csp.mjs's policy and the isolation headers.
  const server = await startSiteServer(site);
  server.setHeaders({
    'content-security-policy': CSP,
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  });
  try {
    // The HTML itself: no inline event handlers, scripts or style attributes.
    for (const path of ['/', '/embed.html']) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.headers.get('content-security-policy'), CSP);
      const html = await response.text();
      const tags = html.match(/<[a-z][^>]*>/gi) ?? [];
      assert.deepEqual(tags.filter((tag) => /\son[a-z]+\s*=/i.test(tag)), [], `${path}: no inline event handler attributes`);
      assert.deepEqual(tags.filter((tag) => /^<script\b/i.test(tag) && !/\ssrc\s*=/i.test(tag)), [], `${path}: no inline <script>`);
      assert.deepEqual(tags.filter((tag) => /\sstyle\s*=/i.test(tag)), [], `${path}: no style attributes`);
      assert.ok(tags.some((tag) => /^<script\b[^>]*\ssrc=/i.test(tag)), `${path} has its script`);
    }

    const violations = () => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__violations.push({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample }),
      );
      document.addEventListener('lm-done', (e) => (window.__lmDone = e.detail), true);
      document.addEventListener('lm-error', (e) => (window.__lmError = String(e.detail?.message ?? e.detail)), true);
    };
    const { context, page } = await freshPage(server.url, '/', { init: violations });
    await waitReady(page);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'the page is cross-origin isolated');
    assert.match(await page.textContent('#mode'), /threads available/, 'the badge says threads are available');
    await setSettings(page, GREEDY);
    assert.equal((await generate(page)).text, GREEDY.prompt + reference.greedy, 'under the CSP the page writes the Node API story');
    // The inspect panel sets a bar width through the CSSOM: allowed by style-src 'self'.
    await page.hover('#story span.token:nth-of-type(3)');
    await page.waitForSelector('#inspect:not([hidden])');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no securitypolicyviolation on the story page');

    const embed = await context.newPage();
    await embed.addInitScript(violations);
    await embed.goto(`${server.url}/embed.html`);
    await embed.waitForFunction(() => window.__lmDone || window.__lmError, null, { timeout: T });
    assert.equal(await embed.evaluate(() => window.__lmError ?? null), null, 'no lm-error event');
    const text = await embed.evaluate(() => document.querySelector('lm-story').shadowRoot.querySelector('[part=text]').textContent);
    assert.equal(text, EMBED_PROMPT + reference.embed, 'the <lm-story> element writes the Node API story under the CSP');
    assert.equal(await embed.evaluate(() => globalThis.crossOriginIsolated), true);
    assert.deepEqual(await embed.evaluate(() => window.__violations), [], 'no securitypolicyviolation on embed.html');
    await closeContext(context);
  } finally {
    await server.close();
  }
  assertNoProblems(t);
});

test('the memory the model needs is shown before the weights have downloaded', TEST, async (t) => {
  const { server, memoryNeeded } = await begin(t);
  // The weights arrive slowly: one chunk, then nothing until the test has looked at the page.
  let release;
  const released = new Promise((resolve) => (release = resolve));
  let stream;
  server.setHandler(({ req, res, entry, pathname, headers }) => {
    if (pathname !== MODEL_PATH || req.method !== 'GET') return false;
    stream = entry;
    entry.status = 200;
    res.writeHead(200, { ...headers, 'content-length': MODEL_SIZE });
    const step = 64 * 1024;
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      if (at >= MODEL_SIZE) return res.end();
      const chunk = WEIGHTS.subarray(at, Math.min(MODEL_SIZE, at + step));
      at += chunk.length;
      entry.bytes = at;
      res.write(chunk, () => (at === step ? released.then(next) : setTimeout(next, 2)));
    };
    next();
    return true;
  });
  try {
    const { context, page } = await freshPage(server.url, '/');
    await page.waitForFunction(() => /needs \d+(\.\d+)? (B|KB|MB|GB)/.test(document.getElementById('progress-text').textContent), null, { timeout: T });
    const shown = await page.evaluate(() => ({
      text: document.getElementById('progress-text').textContent,
      value: document.getElementById('progress').value,
      visible: !document.getElementById('progress-box').hidden,
      ready: document.getElementById('model-status').textContent.startsWith('Ready'),
    }));
    assert.ok(stream && stream.bytes < MODEL_SIZE, `the weights were still downloading (${stream?.bytes} of ${MODEL_SIZE} bytes sent)`);
    assert.ok(shown.visible && !shown.ready, `the progress line is shown while loading: ${JSON.stringify(shown)}`);
    assert.ok(shown.value < 1, `the progress bar is below the end: ${shown.value}`);
    const m = /^(\d+(?:\.\d+)?) (B|KB|MB|GB) of (\d+(?:\.\d+)?) (B|KB|MB|GB) \((\d+(?:\.\d)?)%\)/.exec(shown.text);
    assert.ok(m, `the line shows loaded of total: ${shown.text}`);
    assert.ok(Number(m[5]) < 100, `less than 100% loaded: ${shown.text}`);
    assert.ok(shown.text.includes(`needs ${formatBytes(memoryNeeded)}`), `the figure is the Node API's estimate, ${formatBytes(memoryNeeded)}: ${shown.text}`);

    release();
    await waitReady(page);
    assert.equal(stream.bytes, MODEL_SIZE);
    assert.match(await page.textContent('#model-status'), new RegExp(`Memory: ${formatBytes(memoryNeeded).replace('.', '\\.')} needed`));
    await closeContext(context);
  } finally {
    release();
  }
  assertNoProblems(t);
});
