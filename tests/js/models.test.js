// Models beyond the story model: Llama, Mistral and Qwen2 variants (biases,
// untied lm_head, explicit head_dim, rope_scaling linear / llama3, sliding
// window, GQA / MQA, F32 / F16 / BF16, sharded) with random weights, written
// by bench/make-model.mjs, against an independent float64 reference
// (tests/reference/llama_reference.py, numpy) -- through the native engine
// (build/native/lm-logits for raw logits, lm-story for greedy ids) and the
// npm package (greedy ids and top-logprobs). Also generation_config.json
// defaults and eos ids, and the configurations lm-wasm refuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeSyntheticModel } from '../../bench/make-model.mjs';
import { loadModel, UnsupportedModelError } from '../../web/lib/node.js';
import { ROOT, STORY_DIR, runNative, tempDir } from './support.js';

// Debian's interpreter, with python3-numpy (a pyenv `python3` may lack numpy).
const PYTHON = '/usr/bin/python3';
const REFERENCE = join(ROOT, 'tests/reference/llama_reference.py');
const LM_LOGITS = join(ROOT, 'build/native/lm-logits');
const PROMPT = 'Once upon a time, there was a little dog named Max. He';
const STEPS = 20;
const LOGIT_TOLERANCE = 1e-3; // max |lm-wasm - reference| over every logit of every step
const MIN_MARGIN = 0.02; // reference top-1 lead at every greedy step: far above the tolerance

// Layers that outweigh the embedding and sharp attention: greedy continuations
// that move (a tied model would otherwise mostly repeat its last token).
const small = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 2048, context: 128, randomNorms: true, blockScale: 6, qkScale: 4 };
const VARIANTS = [
  { name: 'llama-f32-tied-gqa', ...small, seed: 6 },
  { name: 'llama-biases-untied-bf16', ...small, attentionBias: true, mlpBias: true, untied: true, dtype: 'BF16', seed: 101 },
  {
    name: 'llama-head-dim-linear-rope-f16-sharded',
    ...small,
    headDim: 24,
    ropeScaling: { rope_type: 'linear', factor: 2.0 },
    dtype: 'F16',
    shards: 3,
    seed: 203,
  },
  {
    name: 'llama3-rope-mqa-f32',
    ...small,
    kvHeads: 1,
    ropeTheta: 500000,
    ropeScaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
    seed: 305,
  },
  { name: 'mistral-sliding-window-bf16-untied', ...small, architecture: 'MistralForCausalLM', slidingWindow: 7, untied: true, dtype: 'BF16', seed: 404 },
  { name: 'mistral-head-dim-f16', ...small, architecture: 'MistralForCausalLM', slidingWindow: null, headDim: 32, dtype: 'F16', seed: 502 },
  {
    name: 'qwen2-f32-sampling-defaults',
    ...small,
    architecture: 'Qwen2ForCausalLM',
    seed: 605,
    generationConfig: { do_sample: true, temperature: 0.7, top_k: 20, top_p: 0.8, repetition_penalty: 1.05, eos_token_id: [2, 5] },
  },
  {
    name: 'qwen2-bf16-untied-sharded-greedy',
    ...small,
    architecture: 'Qwen2ForCausalLM',
    untied: true,
    dtype: 'BF16',
    shards: 2,
    seed: 705,
    generationConfig: { bos_token_id: 1, do_sample: false, eos_token_id: 7 },
  },
];

const root = tempDir('lm-wasm-models-');
const models = {}; // name -> { dir, variant, ref }
let promptIds;

function logSoftmax(row) {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  return row.map((v) => v - lse);
}

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function lastJsonLine(stdout) {
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

after(() => rmSync(root, { recursive: true, force: true }));

before(() => {
  assert.ok(existsSync(LM_LOGITS), `${LM_LOGITS} is missing: build the native tree first`);
  const py = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  assert.equal(py.status, 0, `${PYTHON} with numpy is needed (Debian: apt-get install python3-numpy): ${py.stderr}`);
  for (const v of VARIANTS) models[v.name] = { variant: v, dir: writeSyntheticModel(join(root, v.name), v).dir };
  const tok = runNative(['--model', models[VARIANTS[0].name].dir, '--tokenize', PROMPT]);
  assert.equal(tok.status, 0, tok.stderr);
  promptIds = JSON.parse(tok.stdout);
  assert.ok(promptIds.length > 7, 'the prompt is longer than the sliding window');

  const jobs = VARIANTS.map((v) => ({ model: models[v.name].dir, prompt_ids: promptIds, steps: STEPS }));
  const ref = spawnSync(PYTHON, [REFERENCE], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(ref.status, 0, `reference failed: ${ref.stderr}`);
  JSON.parse(ref.stdout).forEach((r, i) => (models[VARIANTS[i].name].ref = r));
});

describe('the forward pass against the float64 reference', () => {
  test('every variant has comfortable greedy margins in the reference', () => {
    for (const { variant, ref } of Object.values(models)) {
      const least = Math.min(...ref.margins);
      assert.ok(least >= MIN_MARGIN, `${variant.name}: a top-1 lead of only ${least}; pick another seed`);
    }
  });

  test('native: logits of every step within float32 tolerance, the same greedy ids', (t) => {
    for (const { variant, dir, ref } of Object.values(models)) {
      // Prefill in chunks of 5, so chunks straddle the sliding window's edge.
      for (const extra of [['--batch', '5'], ['--batch', '128', '--threads', '2']]) {
        const r = spawnSync(LM_LOGITS, ['--model', dir, '--ids', promptIds.join(','), '--steps', String(STEPS), ...extra], {
          encoding: 'utf8',
          maxBuffer: 1 << 28,
        });
        assert.equal(r.status, 0, `${variant.name}: ${r.stderr}`);
        const got = JSON.parse(r.stdout);
        assert.deepEqual(got.greedy, ref.greedy, `${variant.name} ${extra.join(' ')}: greedy ids`);
        const diff = Math.max(...got.logits.map((row, i) => maxAbsDiff(row, ref.logits[i])));
        if (extra[1] === '5') t.diagnostic(`${variant.name}: max |logit - reference| ${diff.toExponential(2)}, least top-1 lead ${Math.min(...ref.margins).toFixed(3)}`);
        assert.ok(diff <= LOGIT_TOLERANCE, `${variant.name} ${extra.join(' ')}: max logit diff ${diff}`);
      }
    }
  });

  test('native lm-story --json: the reference greedy ids', () => {
    for (const { variant, dir, ref } of Object.values(models)) {
      // (--repetition-penalty 1: a generation_config.json may set another default.)
      const r = runNative(['--model', dir, '--prompt', PROMPT, '--temperature', '0', '--repetition-penalty', '1', '--max-tokens', String(STEPS), '--ignore-eos', '--json']);
      assert.equal(r.status, 0, `${variant.name}: ${r.stderr}`);
      const done = lastJsonLine(r.stdout);
      assert.deepEqual(done.prompt_ids, promptIds, variant.name);
      assert.deepEqual(done.ids, ref.greedy, `${variant.name}: greedy ids`);
    }
  });

  test('npm package: the reference greedy ids and log-probabilities', async (t) => {
    for (const { variant, dir, ref } of Object.values(models)) {
      const model = await loadModel(dir);
      try {
        assert.equal(model.info.architecture, variant.architecture ?? 'LlamaForCausalLM');
        assert.equal(model.info.weightDtype, variant.dtype ?? 'F32', 'weights kept as stored');
        assert.equal(model.info.headDim, variant.headDim ?? variant.hidden / variant.heads);
        assert.equal(model.info.slidingWindow, variant.slidingWindow ?? 0);
        const chunks = [];
        const generation = model.generate(promptIds, { temperature: 0, repetitionPenalty: 1, maxTokens: STEPS, ignoreEos: true, topLogprobs: 5 });
        for await (const c of generation) chunks.push(c);
        const result = await generation;
        assert.deepEqual(result.ids, ref.greedy, `${variant.name}: greedy ids`);
        let worst = 0;
        chunks.forEach((c, step) => {
          const want = logSoftmax(ref.logits[step]);
          assert.equal(c.top[0].id, c.id);
          for (const alt of [...c.top, { id: c.id, logprob: c.logprob }]) worst = Math.max(worst, Math.abs(alt.logprob - want[alt.id]));
        });
        t.diagnostic(`${variant.name}: max |logprob - reference| ${worst.toExponential(2)}`);
        assert.ok(worst <= LOGIT_TOLERANCE, `${variant.name}: max logprob diff ${worst}`);
      } finally {
        await model.dispose();
      }
    }
  });
});

describe('generation_config.json', () => {
  test('its sampling fields become the defaults; eos ids are added to config.json\'s', async () => {
    const { dir } = models['qwen2-f32-sampling-defaults'];
    const model = await loadModel(dir);
    try {
      const d = model.info.generationDefaults;
      assert.ok(Math.abs(d.temperature - 0.7) < 1e-6 && d.topK === 20 && Math.abs(d.topP - 0.8) < 1e-6 && Math.abs(d.repetitionPenalty - 1.05) < 1e-6, JSON.stringify(d));
      assert.deepEqual(model.info.eosIds, [2, 5]);
      const implicit = await model.generate(promptIds, { seed: 5, maxTokens: 16, ignoreEos: true });
      const explicit = await model.generate(promptIds, { seed: 5, maxTokens: 16, ignoreEos: true, temperature: 0.7, topK: 20, topP: 0.8, repetitionPenalty: 1.05 });
      assert.deepEqual(implicit.ids, explicit.ids);
      // What the caller sets wins.
      const greedy = await model.generate(promptIds, { temperature: 0, repetitionPenalty: 1, maxTokens: STEPS, ignoreEos: true });
      assert.deepEqual(greedy.ids, models['qwen2-f32-sampling-defaults'].ref.greedy);
    } finally {
      await model.dispose();
    }
    // The story model's generation_config.json has no sampling fields: lm-wasm's defaults stay.
    const story = await loadModel(STORY_DIR);
    assert.deepEqual(story.info.generationDefaults, { temperature: 0.800000011920929, topK: 40, topP: 0.8999999761581421, repetitionPenalty: 1 });
    await story.dispose();
  });

  test('do_sample: false makes greedy the default; its eos id ends the generation (npm and native)', async () => {
    const { dir, ref } = models['qwen2-bf16-untied-sharded-greedy'];
    // An eos id the greedy continuation reaches at step k (and not before).
    const k = ref.greedy.findIndex((id, i) => i >= 2 && id !== 2 && !ref.greedy.slice(0, i).includes(id));
    assert.ok(k > 0);
    const eosDir = tempDir('lm-wasm-genconfig-');
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'])
      copyFileSync(join(dir, f), join(eosDir, f));
    writeFileSync(join(eosDir, 'generation_config.json'), JSON.stringify({ do_sample: false, eos_token_id: [ref.greedy[k]] }));

    const model = await loadModel(dir);
    try {
      assert.equal(model.info.generationDefaults.temperature, 0);
      assert.deepEqual(model.info.eosIds, [2, 7]);
      assert.deepEqual((await model.generate(promptIds, { maxTokens: STEPS, ignoreEos: true, seed: 3 })).ids, ref.greedy);
    } finally {
      await model.dispose();
    }
    const native = runNative(['--model', dir, '--prompt', PROMPT, '--max-tokens', String(STEPS), '--ignore-eos', '--seed', '3', '--json']);
    assert.equal(native.status, 0, native.stderr);
    assert.deepEqual(lastJsonLine(native.stdout).ids, ref.greedy);

    const stopping = await loadModel(eosDir);
    try {
      const r = await stopping.generate(promptIds, { maxTokens: STEPS });
      assert.equal(r.reason, 'eos');
      assert.deepEqual(r.ids, ref.greedy.slice(0, k + 1));
    } finally {
      await stopping.dispose();
    }
    const n = lastJsonLine(runNative(['--model', eosDir, '--prompt', PROMPT, '--max-tokens', String(STEPS), '--json']).stdout);
    assert.equal(n.reason, 'eos');
    assert.deepEqual(n.ids, ref.greedy.slice(0, k + 1));
  });

  test('a malformed generation_config.json is an error naming it', async () => {
    const { dir } = models['llama-f32-tied-gqa'];
    const broken = tempDir('lm-wasm-genconfig-');
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(join(dir, f), join(broken, f));
    writeFileSync(join(broken, 'generation_config.json'), JSON.stringify({ top_p: 1.5 }));
    await assert.rejects(loadModel(broken), (e) => /generation_config\.json: top_p/.test(e.message));
    const native = runNative(['--model', broken, '--max-tokens', '1']);
    assert.equal(native.status, 1);
    assert.match(native.stderr, /generation_config\.json: top_p/);
  });
});

describe('refused configurations name the architecture or field', () => {
  const cases = [
    ['an unknown architecture', { architectures: ['GemmaForCausalLM'] }, /GemmaForCausalLM/],
    ['Qwen2 use_sliding_window', { architectures: ['Qwen2ForCausalLM'], use_sliding_window: true }, /use_sliding_window/],
    ['a quantized checkpoint', { quantization_config: { quant_method: 'gptq', bits: 4 } }, /quantization_config/],
    ['an unsupported rope_scaling type', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling.*yarn/],
    ['partial rotary embeddings', { partial_rotary_factor: 0.5 }, /partial_rotary_factor/],
  ];
  for (const [what, change, pattern] of cases) {
    test(what, async () => {
      const { dir } = models['llama-f32-tied-gqa'];
      const variant = tempDir('lm-wasm-refused-');
      for (const f of ['tokenizer.json', 'model.safetensors']) copyFileSync(join(dir, f), join(variant, f));
      writeFileSync(join(variant, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), ...change }));
      await assert.rejects(loadModel(variant), (e) => e instanceof UnsupportedModelError && pattern.test(e.message));
      const native = runNative(['--model', variant, '--max-tokens', '1']);
      assert.equal(native.status, 1);
      assert.match(native.stderr, pattern);
    });
  }
});
