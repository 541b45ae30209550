#!/usr/bin/env node
// Writes the fuzz seed corpus, fuzz/corpus/<target>/, from scratch: tiny
// safetensors files, config.json variants, tokenizer.json and tokenizer.model
// samples, and whole tiny models. No file comes from a real model (so no
// weights), and the whole corpus stays around 50 KB.
//   node fuzz/make-corpus.mjs [out-dir]     (default: fuzz/corpus)
// Deterministic: running it again gives the same files. The fuzzers read this
// corpus but never write to it (scripts/fuzz.sh gives them a scratch copy).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'fuzz/corpus'));
const SEP = Buffer.from('\n@@LMFUZZ@@\n'); // fuzz/targets.h kSeparator
const SP = '\u2581';

function write(target, name, ...parts) {
  const dir = join(out, target);
  mkdirSync(dir, { recursive: true });
  const bufs = [];
  parts.forEach((p, i) => {
    if (i) bufs.push(SEP);
    bufs.push(Buffer.isBuffer(p) ? p : Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)));
  });
  writeFileSync(join(dir, name), Buffer.concat(bufs));
}

// ------------------------------------------------------------ safetensors ---

// xorshift32 -> [-1, 1)
function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2147483648 - 1;
  };
}

function encode(values, dtype) {
  const f = Float32Array.from(values);
  if (dtype === 'F32') return Buffer.from(f.buffer);
  const u = new Uint32Array(f.buffer);
  const h = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    if (dtype === 'BF16') {
      h[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    } else {
      // F16, round to nearest even (normal range only: the values here are small).
      const x = f[i];
      if (x === 0) { h[i] = 0; continue; }
      const sign = x < 0 ? 0x8000 : 0;
      const a = Math.abs(x);
      let e = Math.floor(Math.log2(a));
      if (e < -14) e = -14;
      const m = Math.round((a / 2 ** e - (e === -14 && a < 2 ** -14 ? 0 : 1)) * 1024);
      h[i] = sign | ((e === -14 && a < 2 ** -14 ? 0 : e + 15) << 10) | (m & 0x3ff);
    }
  }
  return Buffer.from(h.buffer);
}

// tensors: [name, dtype, shape, values | null (zeros)]; pad: extra header spaces.
function safetensors(tensors, { metadata, pad = null, seed = 1 } = {}) {
  const rnd = random(seed);
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  const datas = [];
  let offset = 0;
  for (const [name, dtype, shape, values] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = values === 'ones' ? new Array(n).fill(1) : values ?? Array.from({ length: n }, () => rnd() * 0.5);
    const data = encode(v, dtype);
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    datas.push(data);
    offset += data.length;
  }
  let text = JSON.stringify(header);
  if (pad === null) while ((8 + text.length) % 8) text += ' ';
  else text += ' '.repeat(pad);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  return Buffer.concat([len, Buffer.from(text), ...datas]);
}

write('safetensors', 'f32-matrix', safetensors([['w', 'F32', [2, 3]]], { metadata: { format: 'pt' } }));
write('safetensors', 'dtypes-ranks', safetensors([
  ['scalar', 'F32', []], ['h', 'F16', [4]], ['b', 'BF16', [2, 2]], ['empty', 'F32', [0, 3]], ['r4', 'F32', [1, 1, 2, 1]],
]));
write('safetensors', 'unaligned-data', safetensors([['a', 'F32', [3]], ['b', 'BF16', [3]]], { pad: 1 }));
write('safetensors', 'two-shards', safetensors([['a', 'F32', [2]]]), safetensors([['b', 'F16', [2, 2]], ['a2', 'F32', [1]]]));
write('safetensors', 'duplicate-across-shards', safetensors([['a', 'F32', [1]]]), safetensors([['a', 'F32', [1]]]));
write('safetensors', 'overlap', Buffer.concat([(() => {
  const text = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, Buffer.from(text)]);
})(), Buffer.alloc(8)]));
write('safetensors', 'index-json', JSON.stringify({
  metadata: { total_size: 24 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
}));

// ----------------------------------------------------------------- config ---

const llama = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, intermediate_size: 12,
  num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 16,
  max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000.0, rope_scaling: null,
  tie_word_embeddings: true, attention_bias: false, mlp_bias: false, bos_token_id: 1, eos_token_id: 2,
  hidden_act: 'silu', torch_dtype: 'float32',
};
write('config', 'llama', llama);
write('config', 'defaults', {});
write('config', 'mistral-window', { ...llama, architectures: ['MistralForCausalLM'], sliding_window: 4, head_dim: 4 });
write('config', 'qwen2', { ...llama, architectures: ['Qwen2ForCausalLM'], use_sliding_window: false, eos_token_id: [2, 3] });
write('config', 'llama3-rope', { ...llama, rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 16 } });
write('config', 'linear-rope-nulls', { ...llama, rope_scaling: { type: 'linear', factor: 2.0 }, bos_token_id: null, eos_token_id: null, num_key_value_heads: null });
write('config', 'rope-parameters', { ...llama, rope_parameters: { rope_type: 'default', rope_theta: 500000.0 } });
const generation = { bos_token_id: 1, eos_token_id: [2, 7], do_sample: true, temperature: 0.6, top_k: 20, top_p: 0.95, repetition_penalty: 1.1 };
write('config', 'with-generation-config', llama, generation);
// Part 3: tokenizer_config.json with a chat template (ChatML, Llama 3, Zephyr).
write('config', 'chat-chatml', llama, {}, { chat_template: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}", eos_token: '<|im_end|>' });
write('config', 'chat-llama3-list', llama, generation, { chat_template: [{ name: 'default', template: "<|start_header_id|>{{ message['role'] }}<|end_header_id|>" }, { name: 'tool_use', template: '' }] });
write('config', 'chat-zephyr', llama, {}, { chat_template: '<|user|>\n{{ m }}</s>\n<|assistant|>\n', added_tokens_decoder: { 0: { content: '<unk>', special: true } } });

// -------------------------------------------------------------- tokenizer ---

const hex = (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
const added = (id, content, o = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true, ...o });

// A SentencePiece-style BPE like the story model's, small: optional byte fallback.
function spTokenizer({ bytes = true, legacyMerges = true } = {}) {
  const pieces = ['<unk>', '<s>', '</s>'];
  if (bytes) for (let b = 0; b < 256; b++) pieces.push(hex(b));
  pieces.push(SP, 'a', 'b', 'c', 'n', 'o', 'e', `${SP}a`, 'ab', `${SP}ab`, 'on', 'ce', `${SP}on`, `${SP}once`, 'once', '\u00e9');
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  const merges = [[SP, 'a'], ['a', 'b'], [SP, 'ab'], ['o', 'n'], ['c', 'e'], [SP, 'on'], ['on', 'ce'], [`${SP}on`, 'ce']];
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SP }, { type: 'Replace', pattern: { String: ' ' }, content: SP }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: SP }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: bytes, ignore_merges: false, vocab,
      merges: legacyMerges ? merges.map((m) => m.join(' ')) : merges,
    },
  };
}

// GPT-2 style byte-level BPE: ByteLevel pre-tokenizer, decoder and post-processor.
function byteLevelTokenizer(regex) {
  const chars = [];
  for (let b = 0x21; b <= 0x7e; b++) chars.push(String.fromCharCode(b));
  chars.push('\u0120', '\u010a'); // byte-level space and newline
  const pieces = [...chars, '\u0120a', 'ab', '\u0120ab', 'he', 'll', 'hell', 'hello', '<|endoftext|>'];
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  return {
    version: '1.0',
    added_tokens: [added(pieces.length - 1, '<|endoftext|>', { normalized: false })],
    normalizer: regex ? { type: 'NFC' } : null,
    pre_tokenizer: regex
      ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, ignore_merges: !!regex, vocab, merges: [['\u0120', 'a'], ['a', 'b'], ['\u0120a', 'b'], ['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o']] },
  };
}

const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const spSmall = spTokenizer({ bytes: false, legacyMerges: false });
write('tokenizer_json', 'sentencepiece-bpe-bytes', spTokenizer());
write('tokenizer_json', 'sentencepiece-bpe', spSmall);
write('tokenizer_json', 'no-decoder-added-options', {
  ...spSmall, decoder: null,
  added_tokens: [added(0, '<unk>'), added(1, '<s>', { lstrip: true }), added(2, '</s>', { rstrip: true, single_word: true }),
    added(31, '[x]', { normalized: false, special: false })],
});
write('tokenizer_json', 'metaspace', {
  ...spSmall, normalizer: null,
  pre_tokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: true },
  decoder: { type: 'Metaspace', replacement: SP, prepend_scheme: 'always', split: true },
});
write('tokenizer_json', 'wordpiece-like-affixes', {
  ...spSmall, normalizer: { type: 'NFD' }, pre_tokenizer: { type: 'Digits', individual_digits: true }, post_processor: null, decoder: null,
  model: { type: 'BPE', unk_token: '[UNK]', continuing_subword_prefix: '##', end_of_word_suffix: '</w>', vocab: { '[UNK]': 0, a: 1, '##b': 2, 'ab': 3, 'b</w>': 4, '##b</w>': 5, 'ab</w>': 6 }, merges: ['a ##b</w>', 'a ##b'] },
});
write('tokenizer_json', 'byte-level-gpt2', byteLevelTokenizer(null));
write('tokenizer_json', 'byte-level-llama3-split', byteLevelTokenizer(llama3Regex));

// tokenizer_ops runs on the story tokenizer: byte 0 picks the operation
// (0 encode, 1 decode ids, 2 stream, 3 stream with stop strings; +4 = flag).
const ids = (...v) => Buffer.from(Uint16Array.from(v).buffer);
write('tokenizer_ops', 'encode', '\x00Once upon a time, there was a little girl.');
write('tokenizer_ops', 'encode-special', '\x04<|start_story|>Hello  world <|end_story|>');
write('tokenizer_ops', 'encode-unicode', Buffer.concat([Buffer.from([0]), Buffer.from('h\u00e9llo \u2713 \ud83c\udf89 \u2581x\ttab\n'), Buffer.from([0xff, 0xc3])]));
write('tokenizer_ops', 'decode', Buffer.concat([Buffer.from([1]), ids(1, 300, 400, 500, 2, 0, 65535)]));
write('tokenizer_ops', 'stream-bytes', Buffer.concat([Buffer.from([2]), ids(1, 600, 0xE2 + 3, 0x9C + 3, 0x93 + 3, 700, 0xF0 + 3, 0x9F + 3)]));
write('tokenizer_ops', 'stream-stop', Buffer.concat([Buffer.from([7]), ids(1, 600, 601, 602, 603, 604, 605, 606, 607, 608, 609)]));

// ------------------------------------------------------------ tokenizer.model ---

// Protobuf wire format.
function varint(n) {
  const b = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    b.push(byte);
  } while (v);
  return Buffer.from(b);
}
const key = (field, wire) => varint((field << 3) | wire);
const pbVarint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const pbBytes = (field, data) => {
  const d = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return Buffer.concat([key(field, 2), varint(d.length), d]);
};
const pbFloat = (field, x) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return Buffer.concat([key(field, 5), b]);
};

// SentencePiece types: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte.
function spModel({ type = 2, bytes = false, extra = [], normalizer = {} } = {}) {
  const pieces = [['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3]];
  if (bytes) for (let b = 0; b < 256; b++) pieces.push([hex(b), 0, 6]);
  const words = [SP, 'a', 'b', 'c', 'o', 'n', 'e', `${SP}a`, 'ab', `${SP}ab`, 'on', `${SP}on`, 'once', `${SP}once`];
  words.forEach((w, i) => pieces.push([w, -i - 1, 1]));
  pieces.push(...extra);
  const proto = [];
  for (const [text, score, t] of pieces) proto.push(pbBytes(1, Buffer.concat([pbBytes(1, text), pbFloat(2, score), pbVarint(3, t)])));
  proto.push(pbBytes(2, Buffer.concat([pbVarint(3, type), pbVarint(35, bytes ? 1 : 0), pbVarint(40, 0), pbVarint(41, 1), pbVarint(42, 2), pbVarint(43, -1)])));
  const n = { name: 'identity', add_dummy_prefix: 1, remove_extra_whitespaces: 1, escape_whitespaces: 1, ...normalizer };
  proto.push(pbBytes(3, Buffer.concat([pbBytes(1, n.name), pbVarint(3, n.add_dummy_prefix), pbVarint(4, n.remove_extra_whitespaces), pbVarint(5, n.escape_whitespaces)])));
  return Buffer.concat(proto);
}
write('sentencepiece', 'bpe', spModel());
write('sentencepiece', 'bpe-byte-fallback', spModel({ bytes: true }));
write('sentencepiece', 'unigram-user-defined', spModel({ type: 1, extra: [['<tool>', 0, 4]], normalizer: { add_dummy_prefix: 0, remove_extra_whitespaces: 0 } }));

// ------------------------------------------------------------------ model ---

// A whole tiny model as the model target's raw mode reads it:
// 0x01 (odd: raw) | config.json | tokenizer.json | shard | shard...
// Bits 1-2 of the first byte pick the weight format (as stored, f32, bf16, q8).
function tinyModel({ arch = 'LlamaForCausalLM', hidden = 8, heads = 2, kvHeads = 1, ffn = 12, layers = 1, tie = true,
  dtype = 'F32', bias = false, mlpBias = false, shards = 1, pad = null, seed = 1, tokenizer = spSmall, mode = 1, extra = {} } = {}) {
  const vocab = Object.keys(tokenizer.model.vocab).length;
  const headDim = hidden / heads;
  const q = heads * headDim, kv = kvHeads * headDim;
  const t = [];
  t.push(['model.embed_tokens.weight', dtype, [vocab, hidden]]);
  if (!tie) t.push(['lm_head.weight', dtype, [vocab, hidden]]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    t.push([`${p}input_layernorm.weight`, dtype, [hidden], 'ones']);
    t.push([`${p}self_attn.q_proj.weight`, dtype, [q, hidden]], [`${p}self_attn.k_proj.weight`, dtype, [kv, hidden]]);
    t.push([`${p}self_attn.v_proj.weight`, dtype, [kv, hidden]], [`${p}self_attn.o_proj.weight`, dtype, [hidden, q]]);
    if (bias) t.push([`${p}self_attn.q_proj.bias`, dtype, [q]], [`${p}self_attn.k_proj.bias`, dtype, [kv]], [`${p}self_attn.v_proj.bias`, dtype, [kv]]);
    if (bias && arch === 'LlamaForCausalLM') t.push([`${p}self_attn.o_proj.bias`, dtype, [hidden]]);
    t.push([`${p}post_attention_layernorm.weight`, dtype, [hidden], 'ones']);
    t.push([`${p}mlp.gate_proj.weight`, dtype, [ffn, hidden]], [`${p}mlp.up_proj.weight`, dtype, [ffn, hidden]], [`${p}mlp.down_proj.weight`, dtype, [hidden, ffn]]);
    if (mlpBias) t.push([`${p}mlp.gate_proj.bias`, dtype, [ffn]], [`${p}mlp.up_proj.bias`, dtype, [ffn]], [`${p}mlp.down_proj.bias`, dtype, [hidden]]);
  }
  t.push(['model.norm.weight', dtype, [hidden], 'ones']);
  const config = {
    ...llama, architectures: [arch], hidden_size: hidden, intermediate_size: ffn, num_hidden_layers: layers,
    num_attention_heads: heads, num_key_value_heads: kvHeads, vocab_size: vocab, tie_word_embeddings: tie,
    attention_bias: bias, mlp_bias: mlpBias, ...extra,
  };
  if (arch !== 'LlamaForCausalLM') { delete config.attention_bias; delete config.mlp_bias; }
  const parts = [];
  for (let s = 0; s < shards; s++) parts.push(safetensors(t.filter((_, i) => i % shards === s), { pad, seed: seed + s }));
  return [Buffer.concat([Buffer.from([mode]), Buffer.from(JSON.stringify(config))]), tokenizer, ...parts];
}

write('model', 'llama-f32-tied', ...tinyModel());
write('model', 'llama-bf16-untied-two-shards-q8', ...tinyModel({ dtype: 'BF16', tie: false, shards: 2, mode: 7 }));
write('model', 'llama-f16-biases-unaligned', ...tinyModel({ dtype: 'F16', bias: true, mlpBias: true, pad: 3, mode: 3 }));
write('model', 'qwen2-byte-fallback-bf16', ...tinyModel({ arch: 'Qwen2ForCausalLM', bias: true, heads: 4, kvHeads: 2, tokenizer: spTokenizer(), mode: 5 }));
write('model', 'mistral-window-two-layers', ...tinyModel({ arch: 'MistralForCausalLM', layers: 2, extra: { sliding_window: 3, max_position_embeddings: 16 } }));
// Structured mode (first byte even): the bytes describe a generated tiny model.
for (let i = 0; i < 4; i++) {
  const rnd = random(100 + i);
  write('model', `generated-${i}`, Buffer.from(Array.from({ length: 96 }, (_, k) => (k === 0 ? 2 * i : Math.floor((rnd() + 1) * 128)))));
}

console.log(`fuzz corpus written to ${out}`);
