// lm-wasm's SentencePiece tokenizer.model support against the SentencePiece
// library itself (Debian's sentencepiece and python3-sentencepiece, installed
// by scripts/setup.sh): ids and decoded text, exactly.
//
// Each test trains a small model with spm_train on tests/data/tokenizer-corpus.txt
// (BPE and Unigram; nmt_nfkc, nmt_nfkc_cf and identity normalization; the
// whitespace options; byte_fallback; user-defined and control symbols; the
// Llama-2 / TinyLlama settings), then compares build/native/lm-tokenize with
// /usr/bin/python3's sentencepiece on the same texts and id lists. Texts go
// over as bytes, so invalid UTF-8 is compared too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from './support.js';

const LM_TOKENIZE = join(ROOT, 'build/native/lm-tokenize');
const CORPUS_FILE = join(ROOT, 'tests/data/tokenizer-corpus.txt');
const CORPUS = readFileSync(CORPUS_FILE, 'utf8').split('\n').filter(Boolean);
const PYTHON = '/usr/bin/python3';  // Debian's, which has the sentencepiece module
const DIR = tempDir('lm-wasm-sentencepiece-');

// Reads {model, texts_hex, decode} on stdin; prints SentencePiece's ids and decodes.
const REFERENCE = `
import json, sys
import sentencepiece as spm
request = json.load(sys.stdin)
sp = spm.SentencePieceProcessor(model_file=request["model"])
out = {"version": spm.__version__, "vocab_size": sp.vocab_size(), "bos_id": sp.bos_id(), "encodings": [], "decodes": []}
for text in request["texts_hex"]:
    out["encodings"].append(sp.encode(bytes.fromhex(text)))
for ids in request["decode"]:
    out["decodes"].append(sp.decode(ids).encode("utf-8").hex())
print(json.dumps(out))
`;

const EDGE_TEXTS = [
  '',
  ' ',
  '    ',
  '\n',
  ' \t \n ',
  'Hello world',
  '  two  spaces  and trailing   ',
  '\u2581lead and x\u2581y',
  'a<tool>b [SEP] <tool><tool>',
  '<s>hi</s> <unk> <pad> <ctrl>',
  'digits 1234567890 and 3.14',
  'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ ｶﾀｶﾅ ﬁ ﬂ ① ⅷ ½ ²',
  'Composed é and decomposed e\u0301, Å and A\u030A, \u212B, \uAC00 and \u1100\u1161',
  'CJK 日本語 中文 한국어, emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈',
  'Rare ɐ ʘ ᚠ ᛗ 𐐀 𐐁 𓀀 characters',
  'Control \u0001\u0002\u007F\u0085 and zero\u200Bwidth \uFEFF',
  'ǅ ß ẞ İ ı ſ Σσς',
  'U+2047 ⁇ and the replacement \uFFFD',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  "don't WON'T it's",
  'tabs\tand\nnewlines\r\nhere',
  'non\u00A0breaking and ideographic\u3000space',
];

// Raw bytes, including invalid UTF-8, as hex.
const BYTE_TEXTS_HEX = [
  'ff',
  '61ff62',
  'e282',
  '61e28262',
  'f09f98',
  'c0af',
  'eda080',
  'f4908080',
  '80808041',
  'e282ac20e2',
  '20ff20',
];

function randomTexts(count, seed) {
  const fragments = [' ', '  ', 'a', 'b', 'the', 'The', '.', ',', "'", '\t', '\n', 'é', 'e\u0301', '中', '😀', '\u2581',
    '<tool>', '[SEP]', '<s>', '1', '23', 'ɐ', 'Ａ', '\u00A0', 'x'];
  let state = seed;
  const next = () => (state = (state * 1664525 + 1013904223) >>> 0);
  const out = [];
  for (let i = 0; i < count; ++i) {
    let text = '';
    const length = next() % 12;
    for (let k = 0; k < length; ++k) text += fragments[(next() >>> 8) % fragments.length];
    out.push(text);
  }
  return out;
}

const toHex = (text) => Buffer.from(text, 'utf8').toString('hex');
const TEXTS_HEX = [...[...CORPUS, CORPUS.join('\n'), ...EDGE_TEXTS, ...randomTexts(300, 3)].map(toHex), ...BYTE_TEXTS_HEX];

// spm_train options per model; all train on the corpus.
const COMMON = ['--character_coverage=0.98', '--minloglevel=2', '--num_threads=1'];
const MODELS = {
  'bpe nmt_nfkc byte_fallback user-defined': ['--model_type=bpe', '--vocab_size=500', '--byte_fallback=true',
    '--user_defined_symbols=<tool>,[SEP]'],
  'unigram nmt_nfkc no BOS': ['--model_type=unigram', '--vocab_size=400', '--hard_vocab_limit=false', '--bos_id=-1'],
  'bpe identity raw whitespace': ['--model_type=bpe', '--vocab_size=300', '--normalization_rule_name=identity',
    '--add_dummy_prefix=false', '--remove_extra_whitespaces=false', '--unk_surface=<?>'],
  'unigram nmt_nfkc_cf byte_fallback user-defined': ['--model_type=unigram', '--vocab_size=800', '--byte_fallback=true',
    '--normalization_rule_name=nmt_nfkc_cf', '--remove_extra_whitespaces=false', '--user_defined_symbols=<tool>,\u2581\u2581',
    '--split_digits=true', '--hard_vocab_limit=false'],
  'bpe like Llama-2 / TinyLlama': ['--model_type=bpe', '--vocab_size=600', '--normalization_rule_name=identity',
    '--remove_extra_whitespaces=false', '--byte_fallback=true', '--split_digits=true', '--allow_whitespace_only_pieces=true',
    '--control_symbols=<ctrl>', '--unk_id=0', '--bos_id=1', '--eos_id=2'],
  'bpe identity, no dummy prefix, extra whitespace removed': ['--model_type=bpe', '--vocab_size=300',
    '--normalization_rule_name=identity', '--add_dummy_prefix=false'],
  'unigram ids moved': ['--model_type=unigram', '--vocab_size=350', '--hard_vocab_limit=false', '--pad_id=0', '--unk_id=1',
    '--bos_id=2', '--eos_id=3'],
};

function randomIdLists(vocabSize, count, seed) {
  let state = seed;
  const next = () => (state = (state * 1664525 + 1013904223) >>> 0);
  const lists = [];
  for (let i = 0; i < count; ++i) {
    const ids = [];
    const length = next() % 12;
    for (let k = 0; k < length; ++k) ids.push(next() % 4 === 0 ? next() % 8 : (next() >>> 4) % vocabSize);
    lists.push(ids);
  }
  return lists;
}

function run(command, args, input) {
  const result = spawnSync(command, args, { input, maxBuffer: 1 << 28 });
  assert.equal(result.error, undefined, `${command}: ${result.error}`);
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.toString();
}

test('the SentencePiece tools are installed (scripts/setup.sh)', () => {
  assert.ok(existsSync('/usr/bin/spm_train'), 'spm_train missing: apt-get install sentencepiece');
  const version = run(PYTHON, ['-c', 'import sentencepiece; print(sentencepiece.__version__)']).trim();
  assert.match(version, /^\d+\.\d+\.\d+/);
});

for (const [name, options] of Object.entries(MODELS)) {
  test(`tokenizer.model "${name}": encode and decode equal SentencePiece`, () => {
    const prefix = join(DIR, name.replace(/[^a-z0-9]+/gi, '-'));
    run('/usr/bin/spm_train', [`--input=${CORPUS_FILE}`, `--model_prefix=${prefix}`, ...COMMON, ...options]);
    const model = `${prefix}.model`;
    const probe = JSON.parse(run(PYTHON, ['-c', REFERENCE], JSON.stringify({ model, texts_hex: [], decode: [] })));
    const decodeLists = randomIdLists(probe.vocab_size, 400, 17);
    const reference = JSON.parse(
      run(PYTHON, ['-c', REFERENCE], JSON.stringify({ model, texts_hex: TEXTS_HEX, decode: [] })),
    );
    // Decode SentencePiece's own encodings (with BOS when it has one) and random ids.
    const bos = reference.bos_id >= 0 ? [reference.bos_id] : [];
    decodeLists.push(...reference.encodings.map((ids) => [...bos, ...ids]));
    const referenceDecodes = JSON.parse(
      run(PYTHON, ['-c', REFERENCE], JSON.stringify({ model, texts_hex: [], decode: decodeLists })),
    ).decodes;
    const ours = JSON.parse(run(LM_TOKENIZE, [model], JSON.stringify({ texts_hex: TEXTS_HEX, decode: decodeLists })));

    assert.equal(ours.vocab_size, reference.vocab_size);
    assert.equal(ours.bos_id, reference.bos_id >= 0 ? reference.bos_id : null);
    const mismatches = [];
    TEXTS_HEX.forEach((hex, i) => {
      const want = reference.encodings[i];
      if (JSON.stringify(ours.encodings[i].ids_no_special) !== JSON.stringify(want)) {
        mismatches.push({ text: Buffer.from(hex, 'hex').toString(), want, got: ours.encodings[i].ids_no_special });
      }
      if (JSON.stringify(ours.encodings[i].ids) !== JSON.stringify([...bos, ...want])) {
        mismatches.push({ text: Buffer.from(hex, 'hex').toString(), bos: true, got: ours.encodings[i].ids });
      }
    });
    decodeLists.forEach((ids, i) => {
      if (ours.decodes[i].skip_hex !== referenceDecodes[i]) {
        mismatches.push({
          ids,
          want: Buffer.from(referenceDecodes[i], 'hex').toString(),
          got: Buffer.from(ours.decodes[i].skip_hex, 'hex').toString(),
        });
      }
    });
    assert.equal(mismatches.length, 0, mismatches.slice(0, 8).map((m) => JSON.stringify(m)).join('\n'));
  });
}

test('a file that is not a SentencePiece model is refused as a format error', () => {
  const run2 = spawnSync(LM_TOKENIZE, [CORPUS_FILE], { input: '{}' });
  assert.equal(run2.status, 1);
  assert.match(run2.stderr.toString(), /^lm-tokenize: format: tokenizer\.model: /);
});
