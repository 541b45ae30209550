// The npm package as users get it: `npm pack` contents, an offline install of
// the tarball into a fresh project (Node entry, exports map, the `lm-wasm`
// bin), and an esbuild browser bundle of the default entry and the worker.
// Needs no network: the package has no runtime dependencies, the install is
// --offline from the local tarball with an empty cache, and esbuild comes from
// the repo's devDependencies.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT, STORY_DIR, golden } from './support.js';

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const TMP = mkdtempSync(join(tmpdir(), 'lm-wasm-package-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

// Child processes get this node first on PATH (for `#!/usr/bin/env node` and
// npm), and none of the npm_* variables an outer `npm test` exports, so the
// nested npm sees only its own command line.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
ENV.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
ENV.NO_UPDATE_NOTIFIER = '1';

function run(cmd, args, { cwd, timeout = 60_000 } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  const shown = `${cmd} ${args.join(' ')} (in ${cwd})`;
  if (r.error) throw new Error(`${shown} could not run: ${r.error.message}`);
  assert.equal(r.status, 0, `${shown} exited with ${r.status ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

// Runs fn the first time only; later calls get the same value or the same error.
const once = (fn) => {
  let state;
  return () => {
    if (!state) {
      try {
        state = { value: fn() };
      } catch (error) {
        state = { error };
      }
    }
    if (state.error) throw state.error;
    return state.value;
  };
};

// ------------------------------------------------------------- npm pack ---

const packed = once(() => {
  for (const f of ['dist/lm-wasm.mjs', 'dist/lm-wasm.wasm', 'dist/lm-wasm-mt.mjs', 'dist/lm-wasm-mt.wasm'])
    assert.ok(existsSync(join(ROOT, f)), `${f} is missing: build the wasm tree first (scripts/build.sh wasm)`);
  const dest = join(TMP, 'pack');
  mkdirSync(dest);
  // --ignore-scripts: no prepack rebuild; dist/ is used as built.
  const r = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: ROOT });
  const [info] = JSON.parse(r.stdout);
  const tarball = join(dest, info.filename);
  assert.ok(existsSync(tarball), `npm pack reported ${info.filename} but ${tarball} does not exist`);
  const entries = run('tar', ['-tzf', tarball], { cwd: dest })
    .stdout.split('\n')
    .filter((l) => l && !l.endsWith('/'));
  return { tarball, info, entries };
});

test('npm pack: the tarball holds the library, the wasm build and the README, nothing else', () => {
  const { entries, info } = packed();
  const bad = entries.filter((e) => !e.startsWith('package/'));
  assert.deepEqual(bad, [], 'every tarball entry is under package/');
  const files = new Set(entries.map((e) => e.slice('package/'.length)));

  const required = [
    'package.json',
    'README.md',
    'dist/lm-wasm.mjs',
    'dist/lm-wasm.wasm',
    'dist/lm-wasm-mt.mjs',
    'dist/lm-wasm-mt.wasm',
    'dist/lm-wasm-mt.worker.js',
    'dist/package.json',
    'web/lib/index.d.ts',
    ...readdirSync(join(ROOT, 'web/lib'))
      .filter((f) => /\.(js|d\.ts)$/.test(f))
      .map((f) => `web/lib/${f}`),
  ];
  for (const f of ['index.js', 'node.js', 'engine.js', 'worker.js', 'node-worker.js', 'cli.js'])
    assert.ok(required.includes(`web/lib/${f}`), `web/lib/${f} exists in the repo`);
  const missing = required.filter((f) => !files.has(f));
  assert.deepEqual(missing, [], `files missing from the tarball (check "files" in package.json)`);

  const forbidden = [...files].filter(
    (f) =>
      /^(tests|core|native|wasm|build|models|scripts|bench|node_modules|test-results|\.git|\.github)\//.test(f) ||
      /\.(safetensors|gguf|bin|tgz|cpp|h|o|a)$/.test(f) ||
      /(^|\/)(config|tokenizer)\.json$/.test(f) ||
      f === 'package-lock.json' ||
      f === 'CMakeLists.txt',
  );
  assert.deepEqual(forbidden, [], 'sources, tests, build trees and model files stay out of the tarball');

  const allowed = (f) =>
    /^(package\.json|README\.md|LICEN[CS]E(\.\w+)?)$/i.test(f) ||
    /^web\/lib\/[\w.-]+\.(js|d\.ts)$/.test(f) ||
    /^dist\/lm-wasm(-mt)?\.(mjs|wasm)$/.test(f) ||
    f === 'dist/lm-wasm-mt.worker.js' ||
    f === 'dist/package.json';
  assert.deepEqual([...files].filter((f) => !allowed(f)), [], 'unexpected files in the tarball');

  // Every path package.json points at must be in the tarball.
  const targets = [];
  const walk = (v) => {
    if (typeof v === 'string') targets.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk({ main: PKG.main, browser: PKG.browser, types: PKG.types, bin: PKG.bin, exports: PKG.exports });
  const dangling = targets
    .filter((t) => !t.includes('*'))
    .map((t) => t.replace(/^\.\//, ''))
    .filter((t) => !files.has(t));
  assert.deepEqual(dangling, [], 'package.json main/browser/types/bin/exports point at files the tarball lacks');

  assert.ok(info.unpackedSize < 4 << 20, `unpacked size ${info.unpackedSize} bytes: did something large get in?`);
});

// ------------------------------------------------ offline install, Node ---

const installed = once(() => {
  const { tarball } = packed();
  const app = join(TMP, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'lm-wasm-consumer', private: true, type: 'module' }, null, 2));
  // An empty cache proves nothing is fetched: --offline fails on any request.
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(TMP, 'npm-cache'), tarball], { cwd: app });
  const dir = join(app, 'node_modules/lm-wasm');
  assert.ok(existsSync(join(dir, 'package.json')), `npm install did not create ${dir}`);
  return { app, dir };
});

const CONSUMER = `
import { loadModel, LmError, GENERATE_DEFAULTS } from 'lm-wasm';
import pkg from 'lm-wasm/package.json' with { type: 'json' };

const [modelDir, prompt] = process.argv.slice(2);
const out = { name: pkg.name, version: pkg.version, resolved: {}, exportsType: {} };
for (const s of ['lm-wasm', 'lm-wasm/worker.js', 'lm-wasm/lm-wasm.wasm', 'lm-wasm/dist/lm-wasm.mjs', 'lm-wasm/dist/lm-wasm.wasm'])
  out.resolved[s] = import.meta.resolve(s);
try {
  import.meta.resolve('lm-wasm/web/lib/engine.js');
  out.privatePath = 'resolved';
} catch (e) {
  out.privatePath = e.code;
}
out.exportsType = { loadModel: typeof loadModel, LmError: typeof LmError, GENERATE_DEFAULTS: typeof GENERATE_DEFAULTS };
out.glue = typeof (await import('lm-wasm/dist/lm-wasm.mjs')).default;
for (const worker of [false, true]) {
  const model = await loadModel(modelDir, { worker });
  const r = await model.generate(prompt, { temperature: 0, maxTokens: 64 });
  out[worker ? 'worker' : 'inProcess'] = { ids: r.ids, promptIds: r.promptIds, text: r.text, reason: r.reason };
  await model.dispose();
}
console.log(JSON.stringify(out));
`;

test('offline install: `import { loadModel } from "lm-wasm"` generates the golden story greedily', () => {
  const { app, dir } = installed();
  const golden0 = golden('story-greedy.json').cases[0];
  assert.equal(golden0.generated_ids.length, 64, 'golden case 0 has 64 generated ids');
  writeFileSync(join(app, 'consumer.mjs'), CONSUMER);
  const r = run(process.execPath, ['consumer.mjs', STORY_DIR, golden0.prompt], { cwd: app });
  let out;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  } catch (e) {
    assert.fail(`consumer.mjs did not print JSON (${e.message}):\n${r.stdout}\n${r.stderr}`);
  }

  assert.equal(out.name, 'lm-wasm');
  assert.equal(out.version, PKG.version, '"lm-wasm/package.json" is importable and is this version');
  const url = (p) => new URL(p, `file://${dir}/`).href;
  assert.equal(out.resolved['lm-wasm'], url('web/lib/node.js'), 'Node resolves "lm-wasm" to the node entry');
  assert.equal(out.resolved['lm-wasm/worker.js'], url('web/lib/worker.js'));
  assert.equal(out.resolved['lm-wasm/lm-wasm.wasm'], url('dist/lm-wasm.wasm'));
  assert.equal(out.resolved['lm-wasm/dist/lm-wasm.mjs'], url('dist/lm-wasm.mjs'));
  assert.equal(out.resolved['lm-wasm/dist/lm-wasm.wasm'], url('dist/lm-wasm.wasm'));
  assert.equal(out.privatePath, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'internal modules are not importable by deep path');
  assert.deepEqual(out.exportsType, { loadModel: 'function', LmError: 'function', GENERATE_DEFAULTS: 'object' });
  assert.equal(out.glue, 'function', '"lm-wasm/dist/lm-wasm.mjs" default-exports the Emscripten factory');

  for (const mode of ['inProcess', 'worker']) {
    assert.deepEqual(out[mode].promptIds, golden0.prompt_ids, `${mode}: prompt ids`);
    assert.deepEqual(out[mode].ids, golden0.generated_ids, `${mode}: greedy ids from the installed package equal the golden ids`);
    assert.equal(out[mode].text, golden0.continuation_text, `${mode}: text`);
  }
});

test('offline install: the `lm-wasm` bin runs from node_modules/.bin', () => {
  const { app } = installed();
  const bin = join(app, 'node_modules/.bin/lm-wasm');
  assert.ok(existsSync(bin), `${bin} was not created (check "bin" in package.json)`);
  const r = run(bin, ['tokenize', '--model', STORY_DIR, '--text', 'Once upon a time'], { cwd: app });
  assert.equal(r.stdout.trim(), '[1,80,147,201,282,57]', `lm-wasm tokenize output\n--- stderr\n${r.stderr}`);
});

// ---------------------------------------------------- esbuild, browser ---
//
// Only that the bundle builds cleanly and stays free of Node code. esbuild
// leaves `new URL('./worker.js' | '../../dist/lm-wasm.wasm', import.meta.url)`
// as is (evanw/esbuild#795, #312), so an esbuild user serves worker.js (bundled
// as its own entry, as here) and the .wasm next to those paths; Vite, webpack 5
// and Parcel rewrite them and copy the assets themselves.

test('esbuild bundles the browser entry and the worker without warnings or Node built-ins', async () => {
  let build;
  try {
    ({ build } = await import('esbuild'));
  } catch (e) {
    assert.fail(`esbuild is not installed (a devDependency): run npm ci (${e.message})`);
  }
  const { app } = installed();
  writeFileSync(join(app, 'entry.js'), 'import { loadModel } from "lm-wasm"; loadModel("./models/story/").then(m => console.log(m.info));\n');
  writeFileSync(join(app, 'lm-worker.js'), 'import "lm-wasm/worker.js";\n');
  const entryPoints = [join(app, 'entry.js'), join(app, 'lm-worker.js')];
  if (PKG.exports['./element']) {
    writeFileSync(join(app, 'lm-element.js'), 'import "lm-wasm/element";\n');
    entryPoints.push(join(app, 'lm-element.js'));
  }
  const outdir = join(app, 'out');
  const result = await build({
    absWorkingDir: app,
    entryPoints,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outdir,
    logLevel: 'silent',
    write: true,
    metafile: true,
  });
  const fmt = (list) => list.map((m) => `${m.location?.file ?? ''}:${m.location?.line ?? ''} ${m.text}`).join('\n');
  assert.deepEqual(result.errors, [], `esbuild errors:\n${fmt(result.errors)}`);
  assert.deepEqual(result.warnings, [], `esbuild warnings:\n${fmt(result.warnings)}`);

  const inputs = Object.keys(result.metafile.inputs);
  const lib = (f) => inputs.some((i) => i.endsWith(`node_modules/lm-wasm/web/lib/${f}`));
  assert.ok(lib('index.js'), `the browser entry web/lib/index.js is bundled (inputs: ${inputs.join(', ')})`);
  assert.ok(lib('engine.js') && inputs.some((i) => i.endsWith('lm-wasm/dist/lm-wasm.mjs')), 'the engine and the wasm glue are bundled');
  for (const f of ['node.js', 'node-platform.js', 'node-worker.js', 'cli.js'])
    assert.ok(!lib(f), `the Node-only module web/lib/${f} must not reach a browser bundle`);

  for (const [name, output] of Object.entries(result.metafile.outputs)) {
    if (!name.endsWith('.js')) continue;
    assert.deepEqual(output.imports, [], `${name} keeps no external imports`);
    const code = readFileSync(join(app, name), 'utf8');
    const nodeRefs = code.match(/["'`]node:[\w/]+["'`]/g) ?? [];
    assert.deepEqual(nodeRefs, [], `${name} references Node built-ins`);
  }
  const worker = readFileSync(join(outdir, 'lm-worker.js'), 'utf8');
  assert.match(worker, /self\.onmessage\s*=/, 'the worker bundle installs its message handler (not tree-shaken away)');
});

test('what a page downloads (JS + wasm, gzipped) stays within 300 KB, for both builds', async () => {
  const { downloadSizes } = await import('../../bench/download.mjs');
  const d = downloadSizes(ROOT);
  for (const [name, v] of Object.entries({ single: d.single, threads: d.threads })) {
    const paths = v.files.map((f) => f.path);
    // The walk found the whole graph: the entry, the worker, the engine and one build's glue and wasm.
    for (const needed of ['web/lib/index.js', 'web/lib/worker.js', 'web/lib/engine.js'])
      assert.ok(paths.includes(needed), `${name}: ${needed} in ${paths.join(', ')}`);
    assert.equal(paths.filter((p) => p.endsWith('.wasm')).length, 1, `${name}: one .wasm in ${paths.join(', ')}`);
    assert.ok(!paths.some((p) => /node/.test(p)), `${name}: no Node-only module in ${paths.join(', ')}`);
    assert.ok(v.gzip <= 300 * 1024, `${name}: ${(v.gzip / 1024).toFixed(1)} KB gzipped > 300 KB`);
  }
});
