#!/usr/bin/env node
// Writes a synthetic Llama model for benchmarks: random weights from a seed,
// as safetensors, with the story model's tokenizer (vocab 2048).
//   node bench/make-model.mjs <dir> --hidden 768 --layers 12 --heads 12 [--kv-heads N]
//        [--ffn 2048] [--vocab 2048] [--dtype F32|BF16] [--seed 1] [--context 2048]
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

export function writeSyntheticModel(dir, { hidden = 768, layers = 12, heads = 12, kvHeads = heads, ffn = 2048, vocab = 2048, dtype = 'F32', seed = 1, context = 2048 } = {}) {
  mkdirSync(dir, { recursive: true });
  const headDim = hidden / heads;
  const tensors = [['model.embed_tokens.weight', [vocab, hidden], 1.0]];
  const kv = kvHeads * headDim;
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      [`${p}input_layernorm.weight`, [hidden], 'ones'],
      [`${p}self_attn.q_proj.weight`, [hidden, hidden], 1 / Math.sqrt(hidden)],
      [`${p}self_attn.k_proj.weight`, [kv, hidden], 1 / Math.sqrt(hidden)],
      [`${p}self_attn.v_proj.weight`, [kv, hidden], 1 / Math.sqrt(hidden)],
      [`${p}self_attn.o_proj.weight`, [hidden, hidden], 1 / Math.sqrt(hidden)],
      [`${p}post_attention_layernorm.weight`, [hidden], 'ones'],
      [`${p}mlp.gate_proj.weight`, [ffn, hidden], 1 / Math.sqrt(hidden)],
      [`${p}mlp.up_proj.weight`, [ffn, hidden], 1 / Math.sqrt(hidden)],
      [`${p}mlp.down_proj.weight`, [hidden, ffn], 1 / Math.sqrt(ffn)],
    );
  }
  tensors.push(['model.norm.weight', [hidden], 'ones']);
  const bytesPer = dtype === 'BF16' ? 2 : 4;
  const header = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype, shape, data_offsets: [offset, offset + n * bytesPer] };
    offset += n * bytesPer;
  }
  let text = JSON.stringify(header);
  while ((8 + text.length) % 8) text += ' ';
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  writeSync(fd, len);
  writeSync(fd, text);
  const random = makeRandom(seed);
  const chunk = 1 << 20;
  for (const [, shape, scale] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let done = 0; done < n; done += chunk) {
      const m = Math.min(chunk, n - done);
      const f = new Float32Array(m);
      for (let i = 0; i < m; i++) f[i] = scale === 'ones' ? 1 : random() * scale;
      if (dtype === 'BF16') {
        const u = new Uint32Array(f.buffer);
        const h = new Uint16Array(m);
        for (let i = 0; i < m; i++) h[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
        writeSync(fd, h);
      } else {
        writeSync(fd, f);
      }
    }
  }
  closeSync(fd);
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: hidden, intermediate_size: ffn,
    num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads, vocab_size: vocab,
    max_position_embeddings: context, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
    bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32',
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  copyFileSync(join(storyModelDir(), 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const params = tensors.reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
  return { dir, params, bytes: offset };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: make-model.mjs <dir> [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--ffn N] [--vocab N] [--dtype F32|BF16] [--seed N]');
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
