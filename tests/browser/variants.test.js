// Models beyond the story model through the story page: each variant is
// written here (random weights, bench/make-model.mjs; tokenizers built below
// or trained with Debian's spm_train), served next to the page, loaded by
// typing its URL into the page's model field, and must write exactly the
// greedy text the Node API writes for it. (The Node API itself is checked
// against the float64 reference in tests/js/models.test.js, and the
// tokenizers against Hugging Face tokenizers / SentencePiece in
// tests/js/tokenizer-reference.test.js and sentencepiece-*.test.js.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeSyntheticModel } from '../../bench/make-model.mjs';
import { loadModel } from '../../web/lib/node.js';
import { ROOT } from '../js/support.js';
import { PAGE_GREEDY_OPTIONS, Problems, T, buildSite, generate, launchBrowser, setSettings, startSiteServer, waitReady } from './support.js';

const TMP = mkdtempSync(join(tmpdir(), 'lm-wasm-variants-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const small = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 2048, context: 128, randomNorms: true, blockScale: 6, qkScale: 4 };
const PROMPT = 'Once upon a time, a cat';
const MAX_TOKENS = 24;

// A GPT-2-style byte-level BPE tokenizer.json: the 256 byte characters, a few
// merges, <|endoftext|> as a special added token.
function byteLevelTokenizer() {
  const chars = [];
  let next = 256;
  for (let b = 0; b < 256; ++b) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCodePoint(printable ? b : next++));
  }
  const vocab = Object.fromEntries(chars.map((c, i) => [c, i]));
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', 'o n', 'Ġ c', 'a t', 'Ġc at', 'i m', 'Ġt im', 'Ġtim e'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const eos = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    added_tokens: [{ id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

// name -> writes the model folder; each also has a generation_config.json, so
// the page asks for no optional file that is missing (a 404 is a console error).
const VARIANTS = {
  'qwen2-bf16-untied-sharded': (dir) =>
    writeSyntheticModel(dir, { ...small, architecture: 'Qwen2ForCausalLM', untied: true, dtype: 'BF16', shards: 2, seed: 705, generationConfig: { eos_token_id: 2 } }),
  'mistral-f16-head-dim-sliding-window': (dir) =>
    writeSyntheticModel(dir, { ...small, architecture: 'MistralForCausalLM', headDim: 32, slidingWindow: 7, dtype: 'F16', seed: 502, generationConfig: { eos_token_id: 2 } }),
  'llama3-rope-byte-level-bpe': (dir) => {
    writeSyntheticModel(dir, {
      ...small,
      ropeTheta: 500000,
      ropeScaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
      seed: 305,
      generationConfig: { eos_token_id: 267 }, // <|endoftext|>
      extraConfig: { eos_token_id: 267 },
    });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer()));
  },
  'llama-sentencepiece-tokenizer-model': (dir) => {
    assert.ok(existsSync('/usr/bin/spm_train'), 'spm_train missing: apt-get install sentencepiece');
    writeSyntheticModel(dir, { ...small, vocab: 600, seed: 6, generationConfig: { eos_token_id: 2 } });
    unlinkSync(join(dir, 'tokenizer.json')); // only tokenizer.model: the page must fall back to it
    const r = spawnSync('/usr/bin/spm_train', [
      `--input=${join(ROOT, 'tests/data/tokenizer-corpus.txt')}`, `--model_prefix=${join(dir, 'tokenizer')}`, '--model_type=bpe',
      '--vocab_size=600', '--character_coverage=0.98', '--byte_fallback=true', '--minloglevel=2', '--num_threads=1',
    ], { encoding: 'utf8' });
    assert.equal(r.status, 0, `spm_train: ${r.stderr}`);
    unlinkSync(join(dir, 'tokenizer.vocab'));
  },
};

test('model variants load in the page from their own files and write what the Node API writes', { timeout: 240_000 }, async () => {
  const site = buildSite(join(TMP, 'site'));
  const expected = {};
  for (const [name, write] of Object.entries(VARIANTS)) {
    const dir = join(site, 'models', name);
    write(dir);
    const model = await loadModel(dir);
    try {
      const r = await model.generate(PROMPT, { ...PAGE_GREEDY_OPTIONS, maxTokens: MAX_TOKENS });
      assert.ok(r.ids.length > 0, `${name}: the Node API generates`);
      expected[name] = r.text;
    } finally {
      await model.dispose();
    }
  }

  const server = await startSiteServer(site);
  const browser = await launchBrowser();
  const problems = new Problems();
  try {
    const context = problems.watch(await browser.newContext());
    context.setDefaultTimeout(T);
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await waitReady(page); // the story model first, as any visitor gets it
    for (const name of Object.keys(VARIANTS)) {
      problems.begin(name);
      // The SentencePiece model has no tokenizer.json: the page's request for it is a 404 on purpose.
      problems.expected = name.includes('sentencepiece') ? [/404/] : [];
      await page.fill('#source', `./models/${name}/`);
      // A marker load() overwrites at once, so the previous model's "Ready" is not mistaken for this one's.
      await page.evaluate(() => (document.getElementById('model-status').textContent = 'pending'));
      await page.click('#load');
      await waitReady(page);
      await setSettings(page, { prompt: PROMPT, temperature: 0, maxTokens: MAX_TOKENS, stop: '', seed: 1 });
      const story = await generate(page);
      assert.equal(story.text, PROMPT + expected[name], `${name}: the page's greedy text equals the Node API's`);
      assert.ok(story.tokens.length > 0, `${name}: tokens are shown`);
    }
    assert.equal(problems.list.length, 0, problems.describe());
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});
