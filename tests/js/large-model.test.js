// A 500 M-parameter bf16 model in wasm32: loads and generates with its
// weights kept in bf16 (about 1 GB), not expanded to f32 (which would need
// 2 GB and more), well inside WebAssembly's 4 GiB.
import assert from 'node:assert/strict';
import { rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSyntheticModel } from '../../bench/make-model.mjs';
import { loadModel } from '../../web/lib/node.js';
import { tempDir } from './support.js';

// 24 x (4 * 1280^2 + 3 * 1280 * 3712) + 2048 * 1280 = 502 M parameters, 1.0 GB in bf16.
const SHAPE = { hidden: 1280, layers: 24, heads: 20, kvHeads: 20, ffn: 3712, vocab: 2048, context: 256, dtype: 'BF16', seed: 7 };
const GB = 1e9;

test('a 500 M-parameter bf16 model loads and generates in wasm32 with bf16 weights', { timeout: 120_000 }, async () => {
  const { bavail, bsize } = statfsSync(tmpdir());
  const free = Number(bavail) * Number(bsize);
  assert.ok(free > 2 * GB, `this test writes a 1 GB model to ${tmpdir()}, which has only ${(free / GB).toFixed(2)} GB free`);

  const dir = join(tempDir('lm-wasm-large-'), 'model');
  try {
    const written = writeSyntheticModel(dir, SHAPE);
    assert.ok(written.params > 495e6 && written.params < 510e6, `${written.params} parameters`);

    const model = await loadModel(dir, { contextLength: 256 });
    try {
      const info = model.info;
      assert.equal(info.weightDtype, 'BF16');
      assert.equal(info.parameters, written.params);
      assert.ok(info.weightBytes < written.bytes * 1.01, `weights take ${info.weightBytes} bytes for a ${written.bytes}-byte checkpoint`);
      // Decode reads every matrix, in bf16: about the whole checkpoint, never more than is held.
      assert.ok(info.weightBytesPerToken > written.bytes * 0.95 && info.weightBytesPerToken <= info.weightBytes, `${info.weightBytesPerToken} bytes read per token`);
      const result = await model.generate('Once upon a time', { maxTokens: 4, temperature: 0, ignoreEos: true });
      assert.equal(result.ids.length, 4);
      assert.equal(result.reason, 'max_tokens');
      const { memoryBytes } = await model.memory();
      assert.ok(memoryBytes < 1.5 * GB, `wasm memory ${(memoryBytes / GB).toFixed(3)} GB (weights ${(written.bytes / GB).toFixed(3)} GB)`);
      assert.ok(info.memoryBytes < 1.5 * GB);
    } finally {
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true }); // free the gigabyte now, not at exit
  }
});
