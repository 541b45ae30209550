#!/usr/bin/env node
// Writes a synthetic Llama model for benchmarks: random weights from a seed,
// as safetensors, with the story model's tokenizer (vocab 2048).
//   node bench/make-model.mjs <dir> --hidden 768 --layers 12 --heads 12 [--kv-heads N]
//        [--ffn 2048] [--vocab 2048] [--dtype F32|F16|BF16] [--seed 1] [--context 2048] [--shards N]
// (writeSyntheticModel below takes more options: other architectures, biases, ...)
// Streams tensors to disk, so even large models need little memory.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function storyModelDir() {
  for (const d of [join(root, 'models/story'), process.env.LM_SHARED_DIR && join(process.env.LM_SHARED_DIR, 'models/story'), join(root, '../shared/models/story')])
    if (d && existsSync(join(d, 'tokenizer.json'))) return d;
  throw new Error('the story model (for its tokenizer) was not found in models/story or ../shared/models/story');
}

// xorshift32 -> uniform [-1, 1): fast and reproducible.
function makeRandom(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2147483648 - 1;
  };
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** f32 -> bf16 bits, round to nearest even. */
export function f32ToBf16(f) {
  scratchF32[0] = f;
  const u = scratchU32[0];
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** f32 -> IEEE half bits, round to nearest even (overflow -> inf, tiny -> subnormal or 0). */
export function f32ToF16(f) {
  scratchF32[0] = f;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry rounds into the exponent, as it should
  return sign | h;
}

const BYTES = { F32: 4, F16: 2, BF16: 2 };
const MODEL_TYPE = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2' };

/**
 * Writes a Llama-family model with random weights (and the story tokenizer)
 * to `dir`, streaming tensors to disk so even large models need little memory.
 *   architecture  LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM
 *   dtype         F32 | F16 | BF16
 *   untied        store lm_head.weight apart from the embedding (tie_word_embeddings false)
 *   attentionBias Llama: q/k/v/o_proj biases (Qwen2 always has q/k/v biases; Mistral none)
 *   mlpBias       Llama: gate/up/down_proj biases
 *   headDim       explicit head_dim (default hidden / heads, not written to config.json)
 *   ropeTheta, ropeScaling (config.json's rope_scaling object)
 *   slidingWindow Mistral: sliding_window (default null: none)
 *   randomNorms   norm weights 1 + 0.25 u instead of ones
 *   blockScale    multiplies o_proj and down_proj weights: > 1 makes the layers
 *                 outweigh the token's own embedding (tied models otherwise repeat it)
 *   qkScale       multiplies q_proj and k_proj weights: > 1 sharpens attention
 *   shards        > 1: that many files and model.safetensors.index.json
 *   generationConfig  an object written as generation_config.json
 *   extraConfig   more config.json fields
 * Matrices of 16-bit dtypes draw from a 65536-entry table per tensor (two
 * values per random number): fast enough for a 1 GB model.
 */
export function writeSyntheticModel(dir, {
  hidden = 768, layers = 12, heads = 12, kvHeads = heads, ffn = 2048, vocab = 2048, dtype = 'F32', seed = 1, context = 2048,
  architecture = 'LlamaForCausalLM', untied = false, attentionBias = false, mlpBias = false, headDim, ropeTheta = 10000,
  ropeScaling, slidingWindow = null, randomNorms = false, blockScale = 1, qkScale = 1, shards = 1, generationConfig, extraConfig = {},
} = {}) {
  if (!MODEL_TYPE[architecture]) throw new Error(`writeSyntheticModel: unknown architecture ${architecture}`);
  if (!BYTES[dtype]) throw new Error(`writeSyntheticModel: dtype must be F32, F16 or BF16, got ${dtype}`);
  mkdirSync(dir, { recursive: true });
  const hd = headDim ?? hidden / heads;
  const q = heads * hd;
  const kv = kvHeads * hd;
  const isLlama = architecture === 'LlamaForCausalLM';
  const qkvBias = architecture === 'Qwen2ForCausalLM' || (isLlama && attentionBias);
  const oBias = isLlama && attentionBias;
  const ffnBias = isLlama && mlpBias;
  const norm = randomNorms ? { norm: 0.25 } : 'ones';
  const bias = 0.5;
  const tensors = [['model.embed_tokens.weight', [vocab, hidden], 1.0]];
  if (untied) tensors.push(['lm_head.weight', [vocab, hidden], 1.0]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      [`${p}input_layernorm.weight`, [hidden], norm],
      [`${p}self_attn.q_proj.weight`, [q, hidden], qkScale / Math.sqrt(hidden)],
      [`${p}self_attn.k_proj.weight`, [kv, hidden], qkScale / Math.sqrt(hidden)],
      [`${p}self_attn.v_proj.weight`, [kv, hidden], 1 / Math.sqrt(hidden)],
      [`${p}self_attn.o_proj.weight`, [hidden, q], blockScale / Math.sqrt(q)],
    );
    if (qkvBias) tensors.push([`${p}self_attn.q_proj.bias`, [q], bias], [`${p}self_attn.k_proj.bias`, [kv], bias], [`${p}self_attn.v_proj.bias`, [kv], bias]);
    if (oBias) tensors.push([`${p}self_attn.o_proj.bias`, [hidden], bias]);
    tensors.push(
      [`${p}post_attention_layernorm.weight`, [hidden], norm],
      [`${p}mlp.gate_proj.weight`, [ffn, hidden], 1 / Math.sqrt(hidden)],
      [`${p}mlp.up_proj.weight`, [ffn, hidden], 1 / Math.sqrt(hidden)],
      [`${p}mlp.down_proj.weight`, [hidden, ffn], blockScale / Math.sqrt(ffn)],
    );
    if (ffnBias) tensors.push([`${p}mlp.gate_proj.bias`, [ffn], bias], [`${p}mlp.up_proj.bias`, [ffn], bias], [`${p}mlp.down_proj.bias`, [hidden], bias]);
  }
  tensors.push(['model.norm.weight', [hidden], norm]);

  const bytesPer = BYTES[dtype];
  const numel = (shape) => shape.reduce((a, b) => a * b, 1);
  const totalBytes = tensors.reduce((s, [, shape]) => s + numel(shape) * bytesPer, 0);
  // Contiguous runs of tensors, about equal in bytes, one per shard.
  const groups = Array.from({ length: shards }, () => []);
  let acc = 0;
  for (const t of tensors) {
    const g = Math.min(shards - 1, Math.floor((acc * shards) / totalBytes));
    groups[g].push(t);
    acc += numel(t[1]) * bytesPer;
  }
  const nonEmpty = groups.filter((g) => g.length);
  const names = nonEmpty.length === 1 ? ['model.safetensors'] : nonEmpty.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(nonEmpty.length).padStart(5, '0')}.safetensors`);

  const random = makeRandom(seed);
  let rng = seed >>> 0 || 1; // the 16-bit path's own xorshift32 state
  const encode16 = dtype === 'BF16' ? f32ToBf16 : f32ToF16;
  const chunk = 1 << 22;
  const weightMap = {};
  nonEmpty.forEach((group, shard) => {
    const header = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const [name, shape] of group) {
      const n = numel(shape) * bytesPer;
      header[name] = { dtype, shape, data_offsets: [offset, offset + n] };
      weightMap[name] = names[shard];
      offset += n;
    }
    let text = JSON.stringify(header);
    while ((8 + text.length) % 8) text += ' ';
    const fd = openSync(join(dir, names[shard]), 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    writeSync(fd, len);
    writeSync(fd, text);
    for (const [, shape, kind] of group) {
      const n = numel(shape);
      const table = typeof kind === 'number' && bytesPer === 2 ? new Uint16Array(65536) : null;
      if (table) for (let r = 0; r < 65536; r++) table[r] = encode16((r / 32768 - 1) * kind);
      for (let done = 0; done < n; done += chunk) {
        const m = Math.min(chunk, n - done);
        if (table) {
          const h = new Uint16Array(m);
          let s = rng;
          let i = 0;
          for (; i + 1 < m; i += 2) {
            s ^= s << 13;
            s ^= s >>> 17;
            s ^= s << 5;
            h[i] = table[s & 0xffff];
            h[i + 1] = table[s >>> 16];
          }
          if (i < m) {
            s ^= s << 13;
            s ^= s >>> 17;
            s ^= s << 5;
            h[i] = table[s & 0xffff];
          }
          rng = s >>> 0 || 1;
          writeSync(fd, h);
          continue;
        }
        const f = new Float32Array(m);
        for (let i = 0; i < m; i++) f[i] = kind === 'ones' ? 1 : typeof kind === 'number' ? random() * kind : 1 + random() * kind.norm;
        if (bytesPer === 2) {
          const h = new Uint16Array(m);
          for (let i = 0; i < m; i++) h[i] = encode16(f[i]);
          writeSync(fd, h);
        } else {
          writeSync(fd, f);
        }
      }
    }
    closeSync(fd);
  });
  if (names.length > 1)
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));

  const config = {
    architectures: [architecture], model_type: MODEL_TYPE[architecture], hidden_size: hidden, intermediate_size: ffn,
    num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads, vocab_size: vocab,
    max_position_embeddings: context, rms_norm_eps: 1e-5, rope_theta: ropeTheta, tie_word_embeddings: !untied,
    bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype],
  };
  if (headDim !== undefined) config.head_dim = headDim;
  if (ropeScaling) config.rope_scaling = ropeScaling;
  if (isLlama) Object.assign(config, { attention_bias: attentionBias, mlp_bias: mlpBias });
  if (architecture === 'MistralForCausalLM') config.sliding_window = slidingWindow;
  if (architecture === 'Qwen2ForCausalLM') Object.assign(config, { use_sliding_window: false, sliding_window: 4096, max_window_layers: layers });
  Object.assign(config, extraConfig);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (generationConfig) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig, null, 2));
  copyFileSync(join(storyModelDir(), 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const params = tensors.reduce((s, [, shape]) => s + numel(shape), 0);
  return { dir, params, bytes: totalBytes, files: names };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: make-model.mjs <dir> [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--ffn N] [--vocab N] [--dtype F32|F16|BF16] [--seed N] [--shards N]');
    process.exit(2);
  }
  const o = {};
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    o[key] = key === 'dtype' ? rest[i + 1] : Number(rest[i + 1]);
  }
  const r = writeSyntheticModel(dir, o);
  console.log(`${r.dir}: ${(r.params / 1e6).toFixed(1)} M parameters, ${(r.bytes / 1e6).toFixed(0)} MB`);
}
