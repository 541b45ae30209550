// The package's lm-wasm command against the native lm-story: the same lines.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, STORY_DIR, golden, runNative, runNode } from './support.js';

const CLI = join(ROOT, 'web/lib/cli.js');
const lines = (s) => s.trim().split('\n');

test('generate --temperature 0 --json prints the golden ids, line for line like lm-story', () => {
  for (const c of golden('story-greedy.json').cases) {
    const args = ['--model', STORY_DIR, '--prompt', c.prompt, '--temperature', '0', '--max-tokens', '64', '--json'];
    const wasm = runNode(CLI, ['generate', ...args]);
    assert.equal(wasm.status, 0, wasm.stderr);
    const native = runNative(args);
    const w = lines(wasm.stdout);
    const n = lines(native.stdout);
    assert.deepEqual(w.slice(0, -1), n.slice(0, -1), 'token lines');
    const wd = JSON.parse(w.at(-1));
    const nd = JSON.parse(n.at(-1));
    assert.deepEqual(Object.keys(wd), Object.keys(nd), 'summary keys in the same order');
    assert.deepEqual(wd.ids, c.generated_ids);
    for (const k of ['done', 'reason', 'prompt_ids', 'ids', 'text']) assert.deepEqual(wd[k], nd[k], k);
  }
});

test('seeded sampling prints the same story as lm-story', () => {
  const args = ['--model', STORY_DIR, '--seed', '42', '--max-tokens', '120', '--temperature', '0.8', '--top-k', '40', '--top-p', '0.9'];
  const wasm = runNode(CLI, ['generate', ...args]);
  const native = runNative(args);
  assert.equal(wasm.status, 0, wasm.stderr);
  assert.equal(wasm.stdout, native.stdout);
  assert.ok(wasm.stdout.startsWith('Once upon a time'));
});

test('tokenize and detokenize', () => {
  const t = runNode(CLI, ['tokenize', '--model', STORY_DIR, '--text', 'Once upon a time']);
  assert.equal(t.stdout, '[1,80,147,201,282,57]\n');
  assert.equal(t.stdout, runNative(['--model', STORY_DIR, '--tokenize', 'Once upon a time']).stdout);
  const d = runNode(CLI, ['detokenize', '--model', STORY_DIR, '--ids', '[1,80,147,201,282,57]']);
  assert.equal(d.stdout, 'Once upon a time\n');
});

test('errors: one line, non-zero exit', () => {
  const bad = runNode(CLI, ['generate', '--model', STORY_DIR, '--temperature', '-1']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^lm-wasm: temperature must be/);
  assert.equal(lines(bad.stderr).length, 1);
  const missing = runNode(CLI, ['generate', '--model', '/no/such/model']);
  assert.equal(missing.status, 1);
  assert.equal(lines(missing.stderr).length, 1);
  const usage = runNode(CLI, ['generate', '--bogus']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /unknown option '--bogus'/);
  // No local model and no network: the Hugging Face download fails quickly and says so.
  const offline = runNode(CLI, ['generate', '--model', 'someone/missing-model'], { timeout: 60000 });
  assert.equal(offline.status, 1, offline.stderr);
  assert.match(offline.stderr, /huggingface\.co\/someone\/missing-model\/resolve\/main\/config\.json/);
});
