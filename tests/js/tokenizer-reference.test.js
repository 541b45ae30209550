// lm-wasm's tokenizer.json support against Hugging Face `tokenizers` (the Rust
// library through its Node bindings, a devDependency): ids and decoded text,
// exactly, on tokenizer.json files built here to mirror the real ones.
//
// Real model files cannot be downloaded here, so each variant copies the
// structure of a real tokenizer.json (GPT-2, SmolLM, Llama-3, Qwen2, Mistral
// with Metaspace, T5-style Metaspace, and Split behaviors) and gets its own
// small BPE: the corpus (tests/data/tokenizer-corpus.txt) is normalized and
// pre-tokenized by the reference library itself, then a plain BPE trainer
// below learns merges from it. build/native/lm-tokenize encodes and decodes
// with lm-wasm's core; the reference runs here.
//
// Decode is compared with the 0.19-0.22 semantics (the ones lm-wasm follows):
// each id becomes its vocab piece or its added token's content, special ones
// dropped when skipping, then the tokenizer's decoder. (tokenizers 0.23's
// own decode() turns added tokens into their normalized form and keeps
// special tokens, so it is not used.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from './support.js';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const TOKENIZERS_VERSION = require('tokenizers/package.json').version;

const LM_TOKENIZE = join(ROOT, 'build/native/lm-tokenize');
const CORPUS = readFileSync(join(ROOT, 'tests/data/tokenizer-corpus.txt'), 'utf8').split('\n').filter(Boolean);
const DIR = tempDir('lm-wasm-tokenizers-');

// ------------------------------------------------------------ the texts ---

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const EDGE_TEXTS = [
  '',
  ' ',
  '   ',
  '\n',
  '\n\n\n',
  '\r\n\r\n',
  ' \n ',
  '\t\tindented\ttabs\t',
  'trailing spaces   ',
  '   leading spaces',
  'a  b   c    d',
  'line one\nline two\n\n  line four  \n',
  'mixed \r\n\t \u00A0\u3000 white\u2003space \u2009',
  '12 123 1234 12345 123456789012345678901234567890',
  '3.14159 -42 +7 1e10 0x1F 1,000,000 ١٢٣٤٥ ½ ² Ⅻ ①②③',
  'Hello, world! (parenthesized) [brackets] {braces} <angles> "quotes" \'single\'',
  '...!!!???---___***///\\\\|||@@@###$$$%%%^^^&&&',
  "don't won't it's I'M WE'LL THEY'RE You'Ve he'D she'S 'tis 'twas o'clock",
  "CAN'T 'S 'T 'RE 'VE 'M 'LL 'D 's't're've'm'll'd x'ſ y'ſt",
  'café naïve résumé Ångström Ünïcödé',
  'cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030Angstro\u0308m',
  '\u1100\u1161\u11A8 \uAC00 \u0958 \u212B \u2126 e\u0323\u0302 o\u031B\u0300\u0323',
  '日本語のテキストです。中文：你好，世界！한국어 문장입니다.',
  'Emoji: 😀😃 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️‍🔥 🇫🇷🇩🇪 #️⃣',
  'Zero\u200Bwidth\u200Cjoin\u200Ders\uFEFF and soft\u00ADhyphen',
  'Control \u0001\u0002\u007F chars and \uFFFD replacement',
  'lone surrogate \uD800 and \uDFFF here',
  'Ｆｕｌｌｗｉｄｔｈ ｶﾀｶﾅ ﬁ ﬂ ℌ𝔢𝔩𝔩𝔬',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '<|endoftext|>',
  'Before<|endoftext|>after',
  '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
  ' <|im_start|> spaced <|im_end|> ',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  '<s>[INST] question [/INST] answer</s>',
  '<|tool call|> with a space in an added token',
  'partial <|im_sta and <|endoftext| and im_start|>',
  'def f(x):\n    return x ** 2  # square\n',
  '\u2581already\u2581has\u2581metaspace',
];

function randomTexts(count, seed) {
  const fragments = [
    ' ', '  ', '\n', '\r\n', '\t', 'a', 'Ab', 'word', 'WORD', "'s", "'LL", '1', '42', '1234', '!', '...', '(',
    'é', 'e\u0301', '中', '文', '😀', '👍🏽', '‍', '\u00A0', '\u3000', '<|im_start|>', '<|endoftext|>', '<s>', '_',
    '\u2581', 'ſ', 'Ⅷ', '٣',
  ];
  let state = seed;
  const next = () => (state = (state * 1664525 + 1013904223) >>> 0);
  const out = [];
  for (let i = 0; i < count; ++i) {
    let text = '';
    const length = next() % 14;
    for (let k = 0; k < length; ++k) text += fragments[(next() >>> 8) % fragments.length];
    out.push(text);
  }
  return out;
}

const TEXTS = [...CORPUS, CORPUS.join('\n'), ...EDGE_TEXTS, ...randomTexts(400, 7)];

// ------------------------------------------------------ building files ---

// GPT-2's byte-to-character map (printable bytes stand for themselves).
const BYTE_CHARS = (() => {
  const chars = [];
  let next = 256;
  for (let b = 0; b < 256; ++b) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCodePoint(printable ? b : next++));
  }
  return chars;
})();

/** The corpus as the reference pre-tokenizes it: Map word -> count. */
function corpusWords(config) {
  const probe = Tokenizer.fromString(
    JSON.stringify({ ...config, added_tokens: [], model: { type: 'BPE', vocab: {}, merges: [] } }),
  );
  const normalizer = probe.getNormalizer();
  const preTokenizer = probe.getPreTokenizer();
  const words = new Map();
  for (const line of CORPUS) {
    const normalized = normalizer ? normalizer.normalizeString(line) : line;
    const pieces = preTokenizer ? preTokenizer.preTokenizeString(normalized).map((p) => p[0]) : [normalized];
    for (const piece of pieces) words.set(piece, (words.get(piece) || 0) + 1);
  }
  return words;
}

/** A plain BPE trainer: merges the most frequent pair (ties: the smallest) until `count` merges. */
function trainMerges(words, alphabet, count) {
  const known = new Set(alphabet);
  const sequences = [...words].map(([word, n]) => ({ symbols: Array.from(word).filter((c) => known.has(c)), n }));
  const merges = [];
  for (let m = 0; m < count; ++m) {
    const pairs = new Map();
    for (const { symbols, n } of sequences) {
      for (let i = 0; i + 1 < symbols.length; ++i) {
        const key = symbols[i] + '\u0000' + symbols[i + 1];
        pairs.set(key, (pairs.get(key) || 0) + n);
      }
    }
    let best = null;
    let bestCount = 1;
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    for (const s of sequences) {
      const out = [];
      for (let i = 0; i < s.symbols.length; ++i) {
        if (i + 1 < s.symbols.length && s.symbols[i] === a && s.symbols[i + 1] === b) {
          out.push(a + b);
          ++i;
        } else {
          out.push(s.symbols[i]);
        }
      }
      s.symbols = out;
    }
  }
  return merges;
}

const added = (id, content, { special = true, normalized = false, lstrip = false, rstrip = false, single_word = false } = {}) => ({
  id,
  content,
  single_word,
  lstrip,
  rstrip,
  normalized,
  special,
});

/**
 * A complete tokenizer.json: `config` gives normalizer, pre_tokenizer,
 * post_processor and decoder; the vocab is `alphabet`, the trained merges,
 * `extraWords` that only ignore_merges reaches, then the added tokens.
 */
function buildTokenizer(config, { alphabet, merges = 300, extraWords = 0, model = {}, addedTokens = [], legacyMerges = false }) {
  const words = corpusWords(config);
  const trained = trainMerges(words, alphabet, merges);
  const vocab = {};
  let nextId = 0;
  const addPiece = (piece) => {
    if (!(piece in vocab)) vocab[piece] = nextId++;
  };
  alphabet.forEach(addPiece);
  for (const [a, b] of trained) addPiece(a + b);
  // Whole words that the merges do not build: only ignore_merges finds them.
  const longWords = [...words.keys()].filter((w) => Array.from(w).length >= 6 && !(w in vocab)).sort();
  longWords.slice(0, extraWords).forEach(addPiece);
  // As in real files, an added token the vocab already has keeps its id.
  const tokens = addedTokens.map(([content, options]) => added(content in vocab ? vocab[content] : nextId++, content, options));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: tokens,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...config,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      ...model,
      vocab,
      merges: legacyMerges ? trained.map(([a, b]) => `${a} ${b}`) : trained,
    },
  };
  if (typeof config.post_processor === 'function') json.post_processor = config.post_processor(tokens);
  return json;
}

const byteLevel = (extra = {}) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true, ...extra });
const split = (regex, behavior = 'Isolated', invert = false) => ({ type: 'Split', pattern: { Regex: regex }, behavior, invert });
const splitString = (string, behavior, invert = false) => ({ type: 'Split', pattern: { String: string }, behavior, invert });
const sequence = (pretokenizers) => ({ type: 'Sequence', pretokenizers });
const template = (name) => (tokens) => {
  const token = tokens.find((t) => t.content === name);
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: name, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [],
    special_tokens: { [name]: { id: name, ids: [token.id], tokens: [name] } },
  };
};

const CHAT_TOKENS = [['<|endoftext|>'], ['<|im_start|>'], ['<|im_end|>'], ['<|tool call|>', { special: false }]];

function metaspaceAlphabet() {
  const counts = new Map();
  for (const c of Array.from(CORPUS.join(' ').replace(/ /g, '\u2581'))) counts.set(c, (counts.get(c) || 0) + 1);
  const chars = [...counts].filter(([, n]) => n >= 2).map(([c]) => c).sort();
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  return ['<unk>', '<s>', '</s>', ...bytes, ...chars, '\u2581'];
}

const SPM_DECODER = {
  type: 'Sequence',
  decoders: [
    { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ],
};

const VARIANTS = {
  // GPT-2: ByteLevel with its own regex; <|endoftext|> is normalized.
  gpt2: () =>
    buildTokenizer(
      { pre_tokenizer: byteLevel(), post_processor: byteLevel({ trim_offsets: true }), decoder: byteLevel() },
      { alphabet: BYTE_CHARS, extraWords: 20, addedTokens: [['<|endoftext|>', { normalized: true }], ['<|tool call|>', { special: false }]] },
    ),
  // ByteLevel adding a prefix space (to every piece between added tokens).
  'gpt2-prefix-space': () =>
    buildTokenizer(
      { pre_tokenizer: byteLevel({ add_prefix_space: true }), decoder: byteLevel() },
      { alphabet: BYTE_CHARS, addedTokens: CHAT_TOKENS },
    ),
  // SmolLM / SmolLM2: single digits, then ByteLevel.
  smollm: () =>
    buildTokenizer(
      {
        pre_tokenizer: sequence([{ type: 'Digits', individual_digits: true }, byteLevel()]),
        post_processor: byteLevel({ add_prefix_space: true, trim_offsets: false }),
        decoder: byteLevel({ add_prefix_space: true }),
      },
      { alphabet: BYTE_CHARS, addedTokens: CHAT_TOKENS },
    ),
  // Llama-3: the Llama-3 regex in a Split, ByteLevel without its regex,
  // ignore_merges, and a BOS template after the ByteLevel post-processor.
  llama3: () =>
    buildTokenizer(
      {
        pre_tokenizer: sequence([split(LLAMA3_REGEX), byteLevel({ use_regex: false })]),
        post_processor: (tokens) => ({
          type: 'Sequence',
          processors: [byteLevel({ add_prefix_space: true, trim_offsets: false }), template('<|begin_of_text|>')(tokens)],
        }),
        decoder: byteLevel({ add_prefix_space: true }),
      },
      {
        alphabet: BYTE_CHARS,
        extraWords: 40,
        model: { ignore_merges: true },
        addedTokens: [
          ['<|begin_of_text|>'],
          ['<|end_of_text|>'],
          ['<|start_header_id|>'],
          ['<|end_header_id|>'],
          ['<|eot_id|>'],
          ['<|reserved_special_token_0|>'],
        ],
      },
    ),
  // Qwen2 / Qwen2.5: NFC, the Qwen2 regex, ByteLevel without its regex.
  qwen2: () =>
    buildTokenizer(
      {
        normalizer: { type: 'NFC' },
        pre_tokenizer: sequence([split(QWEN2_REGEX), byteLevel({ use_regex: false })]),
        post_processor: byteLevel({ trim_offsets: false }),
        decoder: byteLevel(),
      },
      { alphabet: BYTE_CHARS, extraWords: 10, addedTokens: CHAT_TOKENS },
    ),
  // Newer SentencePiece-based exports (Mistral, Llama-2 with legacy=false):
  // Metaspace pre-tokenizer (prepend_scheme "first", no split), byte fallback.
  'metaspace-first': () =>
    buildTokenizer(
      {
        pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
        post_processor: template('<s>'),
        decoder: SPM_DECODER,
      },
      {
        alphabet: metaspaceAlphabet(),
        legacyMerges: true,
        model: { unk_token: '<unk>', fuse_unk: true, byte_fallback: true },
        addedTokens: [['<unk>'], ['<s>'], ['</s>'], ['[INST]'], ['[/INST]']],
      },
    ),
  // T5-style: Metaspace split into words and the Metaspace decoder (the
  // older add_prefix_space form), no byte fallback.
  'metaspace-split': () =>
    buildTokenizer(
      {
        normalizer: { type: 'NFD' },
        pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true },
        decoder: { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true },
      },
      { alphabet: metaspaceAlphabet(), model: { unk_token: '<unk>' }, addedTokens: [['<unk>'], ['</s>']] },
    ),
  // Every Split behavior (and invert) in one chain.
  'split-behaviors': () =>
    buildTokenizer(
      {
        pre_tokenizer: sequence([
          splitString(' ', 'MergedWithNext'),
          split(GPT2_REGEX, 'MergedWithPrevious', true),
          splitString('e', 'MergedWithPrevious'),
          split(QWEN2_REGEX, 'Contiguous'),
          splitString('o', 'Removed'),
          splitString('\n', 'Isolated', true),
          byteLevel({ use_regex: false }),
        ]),
        decoder: byteLevel(),
      },
      { alphabet: BYTE_CHARS, addedTokens: CHAT_TOKENS },
    ),
  'split-removed-contiguous': () =>
    buildTokenizer(
      {
        pre_tokenizer: sequence([split(LLAMA3_REGEX, 'Removed', true), split(GPT2_REGEX, 'Contiguous'), byteLevel({ use_regex: false })]),
        // (Strip with stop > 0 makes the reference panic on an empty text.)
        decoder: { type: 'Sequence', decoders: [byteLevel(), { type: 'Strip', content: ' ', start: 2, stop: 0 }] },
      },
      { alphabet: BYTE_CHARS, addedTokens: CHAT_TOKENS },
    ),
};

// ------------------------------------------------------------- running ---

const toHex = (text) => Buffer.from(text, 'utf8').toString('hex');

function runLmTokenize(file, request) {
  assert.ok(existsSync(LM_TOKENIZE), `${LM_TOKENIZE} is missing: build the native tree first`);
  const run = spawnSync(LM_TOKENIZE, [file], { input: JSON.stringify(request), maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, run.stderr.toString());
  return JSON.parse(run.stdout.toString());
}

/** decode() as tokenizers 0.19-0.22 do it. */
function referenceDecode(tokenizer, json, ids, skipSpecial) {
  const pieces = new Map(Object.entries(json.model.vocab).map(([piece, id]) => [id, piece]));
  const special = new Set();
  for (const t of json.added_tokens) {
    pieces.set(t.id, t.content);
    if (t.special) special.add(t.id);
  }
  const tokens = ids.filter((id) => pieces.has(id) && !(skipSpecial && special.has(id))).map((id) => pieces.get(id));
  const decoder = tokenizer.getDecoder();
  return decoder ? decoder.decode(tokens) : tokens.join(' ');
}

function randomIdLists(vocabSize, addedIds, count, seed) {
  let state = seed;
  const next = () => (state = (state * 1664525 + 1013904223) >>> 0);
  const lists = [];
  for (let i = 0; i < count; ++i) {
    const ids = [];
    const length = next() % 12;
    for (let k = 0; k < length; ++k) {
      ids.push(next() % 5 === 0 && addedIds.length ? addedIds[(next() >>> 4) % addedIds.length] : (next() >>> 4) % vocabSize);
    }
    lists.push(ids);
  }
  return lists;
}

/** Up to `limit` lines describing the differences, for the assertion message. */
function describe(mismatches, limit = 8) {
  return mismatches.slice(0, limit).map((m) => JSON.stringify(m)).join('\n');
}

for (const [name, build] of Object.entries(VARIANTS)) {
  test(`tokenizer.json "${name}": encode and decode equal tokenizers ${TOKENIZERS_VERSION}`, async () => {
    const json = build();
    const file = join(DIR, `${name}.tokenizer.json`);
    writeFileSync(file, JSON.stringify(json));
    const reference = Tokenizer.fromString(JSON.stringify(json));

    const expected = [];
    for (const text of TEXTS) {
      const withSpecial = await reference.encode(text, null, { addSpecialTokens: true });
      const without = await reference.encode(text, null, { addSpecialTokens: false });
      expected.push({ ids: withSpecial.getIds(), ids_no_special: without.getIds() });
    }
    const vocabSize = Math.max(...Object.values(json.model.vocab), ...json.added_tokens.map((t) => t.id)) + 1;
    const decodeLists = [
      ...expected.map((e) => e.ids),
      ...randomIdLists(vocabSize, json.added_tokens.map((t) => t.id), 400, 11),
    ];
    const result = runLmTokenize(file, { texts_hex: TEXTS.map(toHex), decode: decodeLists });
    assert.equal(result.vocab_size, vocabSize);

    const encodeMismatches = [];
    TEXTS.forEach((text, i) => {
      for (const key of ['ids', 'ids_no_special']) {
        if (JSON.stringify(result.encodings[i][key]) !== JSON.stringify(expected[i][key])) {
          encodeMismatches.push({ text, key, expected: expected[i][key], got: result.encodings[i][key] });
        }
      }
    });
    assert.equal(encodeMismatches.length, 0, `encode differs:\n${describe(encodeMismatches)}`);

    const decodeMismatches = [];
    decodeLists.forEach((ids, i) => {
      for (const [skip, key] of [[true, 'skip_hex'], [false, 'keep_hex']]) {
        const want = Buffer.from(referenceDecode(reference, json, ids, skip), 'utf8');
        const got = Buffer.from(result.decodes[i][key], 'hex');
        if (!want.equals(got)) decodeMismatches.push({ ids, skip, expected: want.toString(), got: got.toString() });
      }
    });
    assert.equal(decodeMismatches.length, 0, `decode differs:\n${describe(decodeMismatches)}`);
  });
}

test('a tokenizer.json with an unknown split regex is refused, naming the regex', () => {
  const json = VARIANTS.qwen2();
  json.pre_tokenizer.pretokenizers[0].pattern.Regex = '\\p{L}+|\\s+';
  const file = join(DIR, 'unknown-regex.tokenizer.json');
  writeFileSync(file, JSON.stringify(json));
  const run = spawnSync(LM_TOKENIZE, [file], { input: '{}' });
  assert.equal(run.status, 1);
  assert.match(run.stderr.toString(), /unsupported: tokenizer\.json: unsupported pre-tokenizer regex '\\p\{L\}\+\|\\s\+'/);
});
