// The Embind module itself (dist/lm-wasm.mjs): exactness against the
// references and the native build, errors as JS Errors, no leaks on the error
// path, and SIMD128 really used in the matmul kernel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import createLmWasm from '../../dist/lm-wasm.mjs';
import { ROOT, STORY_DIR, golden, runNative } from './support.js';

const wasmBinary = readFileSync(join(ROOT, 'dist/lm-wasm.wasm'));
const M = await createLmWasm({ wasmBinary });

function loadStory(files = {}) {
  const st = files.safetensors ?? readFileSync(join(STORY_DIR, 'model.safetensors'));
  const buffer = new M.Buffer(st.length);
  buffer.write(st, 0);
  try {
    return M.Model.load(
      {
        config: files.config ?? readFileSync(join(STORY_DIR, 'config.json'), 'utf8'),
        tokenizer: files.tokenizer ?? readFileSync(join(STORY_DIR, 'tokenizer.json'), 'utf8'),
        shards: [{ name: 'model.safetensors', buffer }],
      },
      {},
    );
  } finally {
    buffer.delete();
  }
}

const model = loadStory();
const session = M.Session.create(model, {});

test('greedy ids equal the reference and the native CLI for every golden prompt', () => {
  for (const c of golden('story-greedy.json').cases) {
    const r = session.generate(c.prompt, { temperature: 0, maxTokens: 64 }, undefined);
    assert.deepEqual(r.promptIds, c.prompt_ids);
    assert.deepEqual(r.ids, c.generated_ids, c.name);
    assert.equal(r.text, c.continuation_text);
    const native = runNative(['--model', STORY_DIR, '--prompt', c.prompt, '--temperature', '0', '--max-tokens', '64', '--json']);
    assert.equal(native.status, 0, native.stderr);
    const done = JSON.parse(native.stdout.trim().split('\n').at(-1));
    assert.deepEqual(r.ids, done.ids);
  }
});

test('the same seed and options give identical tokens in wasm and natively', () => {
  for (const [seed, temperature, topK, topP] of [[42, 0.8, 40, 0.9], [7, 1.0, 0, 1.0], [123456789, 1.3, 0, 0.95]]) {
    const r = session.generate('Once upon a time', { seed, temperature, topK, topP, maxTokens: 200 }, undefined);
    const native = runNative(['--model', STORY_DIR, '--seed', String(seed), '--temperature', String(temperature), '--top-k', String(topK), '--top-p', String(topP), '--max-tokens', '200', '--json']);
    const done = JSON.parse(native.stdout.trim().split('\n').at(-1));
    assert.deepEqual(r.ids, done.ids, `seed ${seed}`);
    assert.equal(r.text, done.text);
  }
});

test('step-wise start/next streams the same tokens as generate', () => {
  const whole = session.generate('Lily and Ben', { temperature: 0, maxTokens: 30 }, undefined);
  session.start('Lily and Ben', { temperature: 0, maxTokens: 30 });
  const ids = [];
  let text = '';
  let sawPrefill = false;
  for (;;) {
    const ev = session.next();
    if (ev.kind === 'done') break;
    if (ev.kind === 'prefill') sawPrefill = true;
    else {
      ids.push(ev.id);
      text += ev.text;
    }
  }
  assert.ok(sawPrefill);
  assert.deepEqual(ids, whole.ids);
  assert.equal(text, whole.text);
  assert.equal(session.result().text, whole.text);
});

test('C++ errors arrive as JS Errors with the message and a code; the session recovers', () => {
  assert.throws(() => session.start('x', { temperature: -1 }), (e) => e instanceof Error && /temperature/.test(e.message) && e.code === 'invalid_argument');
  assert.throws(() => session.start('x', { topP: 'high' }), (e) => e instanceof Error && /topP must be a number/.test(e.message));
  const fresh = M.Session.create(model, {});
  assert.throws(() => fresh.next(), (e) => e instanceof Error && /start\(\) first/.test(e.message) && e.code === 'state');
  fresh.delete();
  assert.throws(() => loadStory({ config: '{ broken' }), (e) => e instanceof Error && /config\.json/.test(e.message) && e.code === 'format');
  assert.throws(() => loadStory({ tokenizer: '{"model": {"type": "Unigram"}}' }), (e) => e instanceof Error && /Unigram/.test(e.message) && e.code === 'unsupported');
  const st = readFileSync(join(STORY_DIR, 'model.safetensors'));
  assert.throws(() => loadStory({ safetensors: st.subarray(0, 1000) }), (e) => e instanceof Error && /model\.safetensors/.test(e.message));
  const bad = Buffer.from(st);
  bad.write('"I64"', bad.indexOf('"F32"'));
  assert.throws(() => loadStory({ safetensors: bad }), (e) => e instanceof Error && /I64/.test(e.message) && e.code === 'unsupported');
  // Cancelled mid-generation, then a normal generation.
  session.start('Once upon a time', { maxTokens: 100, seed: 1 });
  for (let i = 0; i < 5; i++) session.next();
  session.cancel();
  assert.equal(session.result().reason, 'cancelled');
  assert.deepEqual(session.generate('Once upon a time', { temperature: 0, maxTokens: 64 }, undefined).ids, golden('story-greedy.json').cases[0].generated_ids);
});

test('thousands of failing calls do not grow the heap', () => {
  const bytes = readFileSync(join(STORY_DIR, 'model.safetensors')).subarray(0, 100);
  const attempt = () => {
    try {
      session.start('x', { temperature: -1 });
    } catch {}
    try {
      model.detokenize([99999], true);
    } catch {}
    try {
      loadStory({ safetensors: bytes });
    } catch {}
  };
  for (let i = 0; i < 200; i++) attempt(); // warm up allocator pools
  const before = M.heapInUse();
  for (let i = 0; i < 3000; i++) attempt();
  assert.ok(M.heapInUse() - before < 4096, `heap grew by ${M.heapInUse() - before} bytes`);
});

test('the matmul kernel uses SIMD128 f32x4 instructions', () => {
  const symbols = join(ROOT, 'build/wasm/wasm/lm-wasm.mjs.symbols');
  assert.ok(existsSync(symbols), `${symbols} missing (built with --emit-symbol-map)`);
  // Functions whose names mention matmul (binaryen inlines the tiled kernel into them).
  const ids = readFileSync(symbols, 'utf8')
    .split('\n')
    .filter((l) => /matmul/.test(l))
    .map((l) => l.split(':')[0]);
  assert.ok(ids.length > 0, 'no matmul function in the symbol map');
  const dump = execFileSync('wasm-objdump', ['-d', join(ROOT, 'dist/lm-wasm.wasm')], { encoding: 'utf8', maxBuffer: 1 << 28 });
  let ops = '';
  for (const id of ids) {
    const start = dump.indexOf(` func[${id}]`);
    const end = dump.indexOf(' func[', start + 5);
    ops += dump.slice(start, end === -1 ? undefined : end);
  }
  const count = (op) => (ops.match(new RegExp(`\\b${op.replace('.', '\\.')}\\b`, 'g')) ?? []).length;
  assert.ok(count('f32x4.mul') >= 4, `f32x4.mul x${count('f32x4.mul')}`);
  assert.ok(count('f32x4.add') >= 4, `f32x4.add x${count('f32x4.add')}`);
  assert.equal(M.simdBackend(), 'wasm-simd128');
});

test('tokenize and detokenize match the tokenizer reference', () => {
  for (const c of golden('tokenizer.json').cases) {
    assert.deepEqual(model.tokenize(c.text, true), c.ids, c.id);
    assert.equal(model.detokenize(c.ids, true), c.decode.skip_special, c.id);
    assert.equal(model.detokenize(c.ids, false), c.decode.keep_special, c.id);
  }
});
