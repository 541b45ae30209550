// A long-lived engine must not leak: many generations (some aborted) leave
// the wasm heap flat, and loading and disposing models does not grow memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadModel } from '../../web/lib/node.js';
import { STORY_DIR } from './support.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

test('1,000 generations with aborts interleaved leave the wasm heap flat', async () => {
  const model = await loadModel(STORY_DIR, { threads: 1 });
  const session = await model.createSession({ contextLength: 64 });
  const run = async (i) => {
    const target = i % 3 === 0 ? session : model;
    const controller = new AbortController();
    const generation = target.generate('Once upon a time', { maxTokens: 12, seed: i, stop: i % 7 === 0 ? ['the'] : [], signal: controller.signal, topLogprobs: i % 5 });
    try {
      let n = 0;
      for await (const chunk of generation) if (i % 4 === 0 && ++n === 2 && chunk) controller.abort();
    } catch (e) {
      assert.equal(e.name, 'AbortError');
    }
  };
  for (let i = 0; i < 100; i++) await run(i); // warm up: buffers reach their steady sizes
  const before = await model.memory();
  for (let i = 100; i < 1100; i++) await run(i);
  const after = await model.memory();
  assert.equal(after.memoryBytes, before.memoryBytes, 'the wasm memory did not grow');
  assert.ok(after.heapInUse - before.heapInUse <= 4096, `heap grew by ${after.heapInUse - before.heapInUse} bytes`);
  await session.dispose();
  await model.dispose();
});

test('loading and disposing 50 models in a row does not grow memory', async () => {
  const cycle = async (worker) => {
    const model = await loadModel(STORY_DIR, { worker, threads: 1 });
    await model.generate('Once upon a time', { maxTokens: 4 });
    await model.dispose();
  };
  const rss = () => {
    gc();
    return process.memoryUsage().rss;
  };
  for (let i = 0; i < 5; i++) await cycle(false);
  const base = rss();
  for (let i = 0; i < 50; i++) await cycle(i % 5 === 0); // some in worker threads
  await new Promise((resolve) => setTimeout(resolve, 200));
  const grown = rss() - base;
  // Each model takes ~17 MB of wasm memory: a leak of every instance would add ~850 MB.
  assert.ok(grown < 64e6, `RSS grew by ${(grown / 1e6).toFixed(1)} MB over 50 load/dispose cycles`);
});
