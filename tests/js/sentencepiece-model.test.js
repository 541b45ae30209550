// A model folder with a SentencePiece tokenizer.model and no tokenizer.json
// loads through the npm package and the native CLI, tokenizing as
// SentencePiece itself does (Debian's python3-sentencepiece).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../web/lib/node.js';
import { ROOT, NATIVE_CLI, successorModel, tempDir, writeModelDir } from './support.js';

const PYTHON = '/usr/bin/python3';

function run(command, args, input) {
  const r = spawnSync(command, args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `${command}: ${r.stderr}`);
  return r.stdout;
}

test('tokenizer.model instead of tokenizer.json', async () => {
  assert.ok(existsSync('/usr/bin/spm_train'), 'spm_train missing: apt-get install sentencepiece');
  const work = tempDir('lm-wasm-spm-');
  run('/usr/bin/spm_train', [`--input=${join(ROOT, 'tests/data/tokenizer-corpus.txt')}`, `--model_prefix=${join(work, 'sp')}`,
    '--model_type=bpe', '--vocab_size=600', '--character_coverage=0.98', '--byte_fallback=true', '--minloglevel=2', '--num_threads=1']);
  const spm = readFileSync(join(work, 'sp.model'));
  const text = 'Once upon a time, a naïve 🐶 jumped!';
  const reference = JSON.parse(run(PYTHON, ['-c', `import json, sys, sentencepiece as s
p = s.SentencePieceProcessor(model_file=sys.argv[1])
print(json.dumps({"ids": [p.bos_id()] + p.encode(sys.argv[2]), "size": p.get_piece_size()}))`, join(work, 'sp.model'), text]));

  // A model over that vocabulary whose greedy path is a fixed cycle of pieces.
  const files = successorModel({ cycle: [100, 101, 102], vocabSize: reference.size });
  delete files['tokenizer.json'];
  files['tokenizer.model'] = spm;
  const dir = writeModelDir(files);

  const model = await loadModel(dir);
  assert.deepEqual(await model.tokenize(text), reference.ids);
  const r = await model.generate(text, { temperature: 0, maxTokens: 6 });
  assert.deepEqual(r.ids, [100, 101, 102, 100, 101, 102]);
  assert.equal(r.text, await model.detokenize(r.ids));
  await model.dispose();

  const native = spawnSync(NATIVE_CLI, ['--model', dir, '--tokenize', text], { encoding: 'utf8' });
  assert.equal(native.status, 0, native.stderr);
  assert.deepEqual(JSON.parse(native.stdout), reference.ids);
});
