// The story page. It only renders: the model runs in a Web Worker owned by
// the lm-wasm package. Model output is always inserted as text, never HTML.
import { loadModel, listCachedModels, deleteCachedModel } from './lm-wasm/web/lib/index.js';

const $ = (id) => document.getElementById(id);
const el = {
  mode: $('mode'),
  sourceForm: $('source-form'),
  source: $('source'),
  load: $('load'),
  files: $('files'),
  folder: $('folder'),
  dropZone: $('drop-zone'),
  progressBox: $('progress-box'),
  progress: $('progress'),
  progressText: $('progress-text'),
  modelStatus: $('model-status'),
  error: $('error'),
  cachePanel: $('cache-panel'),
  cachedList: $('cached-list'),
  form: $('generate-form'),
  prompt: $('prompt'),
  generate: $('generate'),
  stop: $('stop'),
  permalink: $('permalink'),
  maxTokens: $('max-tokens'),
  temperature: $('temperature'),
  topK: $('top-k'),
  topP: $('top-p'),
  repetitionPenalty: $('repetition-penalty'),
  seed: $('seed'),
  randomSeed: $('random-seed'),
  stopText: $('stop-text'),
  story: $('story'),
  inspect: $('inspect'),
  stat: {
    download: $('stat-download'),
    load: $('stat-load'),
    ttft: $('stat-ttft'),
    speed: $('stat-speed'),
    tokens: $('stat-tokens'),
    memory: $('stat-memory'),
  },
};

const DEFAULT_SOURCE = el.source.value;
const state = {
  model: null, // LmModel
  loading: null, // AbortController of the load in progress
  generation: null, // AbortController of the generation in progress
  tokens: [], // per token span: { text, logprob, top }
};

// ------------------------------------------------------------ helpers ---

function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 2 : 1)} ${units[i]}`;
}

const percent = (p) => `${(100 * p).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`;
const randomSeed = () => Math.floor(Math.random() * 2 ** 31);

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

function setBusy({ loading = false, generating = false } = {}) {
  el.load.disabled = loading;
  el.generate.disabled = !state.model || loading || generating;
  el.stop.disabled = !generating && !loading;
}

// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
function describeMode() {
  const isolated = globalThis.crossOriginIsolated === true;
  el.mode.textContent = isolated
    ? 'Cross-origin isolated: threads available · WebAssembly SIMD128'
    : 'Single-threaded · WebAssembly SIMD128';
  el.mode.title = isolated
    ? 'This page is served with COOP/COEP headers, so SharedArrayBuffer and threads are available.'
    : 'Threads need SharedArrayBuffer, which browsers only allow on pages served with the headers ' +
      'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp.';
}

// ----------------------------------------------------------- settings ---

function readSettings() {
  const num = (input) => (input.value === '' ? undefined : Number(input.value));
  if (el.seed.value === '') el.seed.value = String(randomSeed());
  return {
    maxTokens: num(el.maxTokens),
    temperature: num(el.temperature),
    topK: num(el.topK),
    topP: num(el.topP),
    repetitionPenalty: num(el.repetitionPenalty),
    seed: num(el.seed),
    stop: el.stopText.value ? [el.stopText.value] : [],
  };
}

// Permalink: every setting, the prompt and the model in the query string.
const PARAMS = {
  prompt: el.prompt,
  max: el.maxTokens,
  temp: el.temperature,
  topk: el.topK,
  topp: el.topP,
  rep: el.repetitionPenalty,
  seed: el.seed,
  stop: el.stopText,
};

function permalink() {
  const url = new URL(location.href);
  url.search = '';
  url.hash = '';
  if (el.source.value !== DEFAULT_SOURCE) url.searchParams.set('model', el.source.value);
  if (el.seed.value === '') el.seed.value = String(randomSeed());
  for (const [key, input] of Object.entries(PARAMS)) url.searchParams.set(key, input.value);
  return url.href;
}

function applyParams() {
  const params = new URLSearchParams(location.search);
  for (const [key, input] of Object.entries(PARAMS)) if (params.has(key)) input.value = params.get(key);
  if (params.has('model')) el.source.value = params.get('model');
  return params.has('prompt');
}

// -------------------------------------------------------------- model ---

async function load(source, label = typeof source === 'string' ? source : 'the chosen files') {
  state.loading?.abort();
  state.generation?.abort();
  const controller = new AbortController();
  state.loading = controller;
  showError('');
  setBusy({ loading: true });
  el.progressBox.hidden = false;
  el.progress.removeAttribute('value'); // indeterminate until the total is known
  el.progressText.textContent = 'Starting…';
  el.modelStatus.textContent = `Loading ${label}…`;
  const started = performance.now();
  let lastBytes = 0;
  try {
    const previous = state.model;
    state.model = null;
    await previous?.dispose();
    const model = await loadModel(source, {
      signal: controller.signal,
      onProgress: ({ loaded, total, memoryNeeded }) => {
        lastBytes = loaded;
        const needs = memoryNeeded ? ` · needs ${formatBytes(memoryNeeded)} of memory` : '';
        if (total) {
          el.progress.value = loaded / total;
          el.progressText.textContent = `${formatBytes(loaded)} of ${formatBytes(total)} (${percent(loaded / total)})${needs}`;
        } else {
          el.progressText.textContent = formatBytes(loaded) + needs;
        }
      },
    });
    if (state.loading !== controller) {
      await model.dispose();
      return;
    }
    state.model = model;
    const seconds = (performance.now() - started) / 1000;
    const i = model.info;
    el.modelStatus.textContent =
      `Ready: ${i.architecture}, ${(i.parameters / 1e6).toFixed(2)} M parameters (${i.weightDtype}), ` +
      `${i.layers} layers, context ${i.contextLength} tokens.`;
    el.stat.download.textContent = `${formatBytes(lastBytes)} in ${seconds.toFixed(2)} s`;
    el.stat.load.textContent = `${i.loadMs.toFixed(0)} ms`;
    el.stat.memory.textContent = formatBytes(i.memoryBytes);
    el.progress.value = 1;
    if (i.memoryEstimate) el.modelStatus.textContent += ` Memory: ${formatBytes(i.memoryEstimate.total)} needed.`;
    el.progressText.textContent = `${formatBytes(lastBytes)} (100%)`;
    refreshCacheList();
  } catch (e) {
    if (e?.name === 'AbortError') {
      el.modelStatus.textContent = 'Loading stopped.';
    } else {
      el.modelStatus.textContent = 'No model loaded.';
      showError(`Could not load the model: ${e.message}`);
    }
    el.progressBox.hidden = true;
  } finally {
    if (state.loading === controller) state.loading = null;
    setBusy();
  }
}

async function refreshCacheList() {
  let models = [];
  try {
    models = await listCachedModels();
  } catch {
    // Storage blocked (private mode): nothing to list.
  }
  el.cachedList.replaceChildren(
    ...models.map((m) => {
      const li = document.createElement('li');
      li.append(`${m.source} — ${formatBytes(m.bytes)} (${m.files.length} files)`);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Delete';
      remove.setAttribute('aria-label', `Delete the saved copy of ${m.source}`);
      remove.addEventListener('click', async () => {
        await deleteCachedModel(m.source);
        refreshCacheList();
      });
      li.append(remove);
      return li;
    }),
  );
  if (!models.length) {
    const li = document.createElement('li');
    li.textContent = 'None yet.';
    el.cachedList.append(li);
  }
}

// -------------------------------------------------------------- story ---

function appendToken(chunk) {
  const span = document.createElement('span');
  span.className = 'token';
  span.tabIndex = -1;
  span.dataset.index = String(state.tokens.length);
  span.textContent = chunk.text;
  state.tokens.push(chunk);
  el.story.append(span);
}

async function generate() {
  if (!state.model) return;
  state.generation?.abort();
  const controller = new AbortController();
  state.generation = controller;
  showError('');
  let settings;
  try {
    settings = readSettings();
  } catch (e) {
    showError(e.message);
    return;
  }
  state.tokens = [];
  el.inspect.hidden = true;
  const prompt = el.prompt.value;
  const promptSpan = document.createElement('span');
  promptSpan.className = 'prompt';
  promptSpan.textContent = prompt;
  el.story.replaceChildren(promptSpan);
  el.stat.ttft.textContent = el.stat.speed.textContent = el.stat.tokens.textContent = '—';
  setBusy({ generating: true });
  const started = performance.now();
  let count = 0;
  try {
    const generation = state.model.generate(prompt, { ...settings, topLogprobs: 5, signal: controller.signal });
    for await (const chunk of generation) {
      if (count++ === 0) el.stat.ttft.textContent = `${(performance.now() - started).toFixed(0)} ms`;
      appendToken(chunk);
      el.stat.tokens.textContent = String(count);
    }
    const { stats, reason } = await generation;
    el.stat.ttft.textContent = `${stats.timeToFirstTokenMs.toFixed(1)} ms`;
    el.stat.speed.textContent = `${stats.decodeTokensPerS.toFixed(0)} tokens/s`;
    el.stat.tokens.textContent = `${stats.generatedTokens} (${reason.replace('_', ' ')})`;
  } catch (e) {
    if (e?.name !== 'AbortError') showError(`Generation failed: ${e.message}`);
    else el.stat.tokens.textContent = `${count} (stopped)`;
  } finally {
    if (state.generation === controller) state.generation = null;
    setBusy();
    state.model?.memory().then((m) => (el.stat.memory.textContent = formatBytes(m.memoryBytes))).catch(() => {});
  }
}

// ------------------------------------------------------------ inspect ---

function showInspect(span) {
  const chunk = state.tokens[Number(span.dataset.index)];
  if (!chunk) return;
  for (const s of el.story.querySelectorAll('.token.current')) s.classList.remove('current');
  span.classList.add('current');
  const table = document.createElement('table');
  const caption = document.createElement('caption');
  caption.textContent = `Token ${Number(span.dataset.index) + 1}: ${JSON.stringify(chunk.text)} — probability ${percent(Math.exp(chunk.logprob))}`;
  table.append(caption);
  for (const alt of chunk.top ?? []) {
    const tr = document.createElement('tr');
    if (alt.id === chunk.id) tr.className = 'chosen';
    const p = Math.exp(alt.logprob);
    const text = document.createElement('td');
    text.className = 'alt';
    text.textContent = JSON.stringify(alt.text);
    const prob = document.createElement('td');
    prob.textContent = percent(p);
    const barCell = document.createElement('td');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, Math.round(p * 120))}px`;
    barCell.append(bar);
    tr.append(text, prob, barCell);
    table.append(tr);
  }
  el.inspect.replaceChildren(table);
  el.inspect.hidden = false;
}

function moveFocus(step) {
  const spans = [...el.story.querySelectorAll('.token')].filter((s) => s.textContent !== '');
  if (!spans.length) return;
  const current = spans.indexOf(document.activeElement);
  const next = spans[Math.min(spans.length - 1, Math.max(0, current < 0 ? (step > 0 ? 0 : spans.length - 1) : current + step))];
  next.focus();
  showInspect(next);
}

// ------------------------------------------------------------- wiring ---

el.sourceForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const source = el.source.value.trim();
  if (source) load(source);
});

for (const input of [el.files, el.folder])
  input.addEventListener('change', () => {
    if (input.files?.length) load([...input.files], `${input.files.length} local files`);
    input.value = '';
  });

el.dropZone.addEventListener('dragover', (e) => {
  e.preventDefault();
  el.dropZone.classList.add('dragging');
});
el.dropZone.addEventListener('dragleave', () => el.dropZone.classList.remove('dragging'));
el.dropZone.addEventListener('drop', async (e) => {
  e.preventDefault();
  el.dropZone.classList.remove('dragging');
  const files = [];
  // A dropped folder arrives as a directory entry: read the files inside it.
  const entries = [...(e.dataTransfer?.items ?? [])].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const readEntry = (entry) =>
    new Promise((resolve) => {
      if (entry.isFile) entry.file((f) => resolve([f]), () => resolve([]));
      else entry.createReader().readEntries(async (children) => resolve((await Promise.all(children.map(readEntry))).flat()), () => resolve([]));
    });
  if (entries.length) for (const entry of entries) files.push(...(await readEntry(entry)));
  else files.push(...(e.dataTransfer?.files ?? []));
  if (files.length) load(files, `${files.length} dropped files`);
});

el.form.addEventListener('submit', (e) => {
  e.preventDefault();
  generate();
});
el.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    generate();
  }
});
el.stop.addEventListener('click', () => {
  state.generation?.abort();
  state.loading?.abort();
});
el.randomSeed.addEventListener('click', () => {
  el.seed.value = String(randomSeed());
});
el.permalink.addEventListener('click', async () => {
  const url = permalink();
  history.replaceState(null, '', url);
  try {
    await navigator.clipboard.writeText(url);
    el.permalink.textContent = 'Link copied';
  } catch {
    el.permalink.textContent = 'Link in the address bar';
  }
  setTimeout(() => (el.permalink.textContent = 'Copy link to this story'), 2000);
});

el.story.addEventListener('mouseover', (e) => {
  const span = e.target.closest?.('.token');
  if (span) showInspect(span);
});
el.story.addEventListener('focusin', (e) => {
  if (e.target.classList?.contains('token')) showInspect(e.target);
});
el.story.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') moveFocus(1);
  else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') moveFocus(-1);
  else if (e.key === 'Home') moveFocus(-Infinity);
  else if (e.key === 'End') moveFocus(Infinity);
  else return;
  e.preventDefault();
});

// ------------------------------------------------------------- start ---

describeMode();
const autorun = applyParams();
if (el.seed.value === '') el.seed.value = String(randomSeed());
refreshCacheList();
setBusy();
load(el.source.value).then(() => {
  if (autorun && state.model) generate();
});
if ('serviceWorker' in navigator && location.protocol.startsWith('http'))
  navigator.serviceWorker.register('./sw.js').catch(() => {});
