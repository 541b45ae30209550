// Shared helpers for the node --test suites: reference files, native
// binaries, hand-made models, and a local static file server.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync, createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** ../shared next to the checkout, or $LM_SHARED_DIR; missing is an error, never a skip. */
export const SHARED = (() => {
  const dir = process.env.LM_SHARED_DIR || resolve(ROOT, '../shared');
  if (!existsSync(dir)) throw new Error(`reference files not found: expected ${dir} (or set LM_SHARED_DIR)`);
  return dir;
})();

export const STORY_DIR = existsSync(join(ROOT, 'models/story/model.safetensors'))
  ? join(ROOT, 'models/story')
  : join(SHARED, 'models/story');

export const golden = (name) => JSON.parse(readFileSync(join(SHARED, 'golden', name), 'utf8'));

export const NATIVE_CLI = join(ROOT, 'build/native/lm-story');

/** Runs the native CLI; returns { status, stdout, stderr }. */
export function runNative(args) {
  if (!existsSync(NATIVE_CLI)) throw new Error(`${NATIVE_CLI} is missing: build the native tree first`);
  return spawnSync(NATIVE_CLI, args, { encoding: 'utf8' });
}

/** Runs a Node script (e.g. the lm-wasm CLI) with arguments. */
export function runNode(script, args, options = {}) {
  return spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', ...options });
}

export function tempDir(prefix = 'lm-wasm-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------- safetensors ---

const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/** tensors: [{ name, dtype, shape, data: Float32Array | Uint8Array }] -> Uint8Array of a .safetensors file. */
export function safetensorsBytes(tensors, metadata) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const blobs = [];
  for (const t of tensors) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let text = JSON.stringify(header);
  while ((8 + text.length) % 8) text += ' ';
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Every tensor of a .safetensors file as { name, dtype, shape, data: Uint8Array }, in file order. */
export function readSafetensors(bytes) {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const base = 8 + n;
  const out = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out.push({ name, dtype: e.dtype, shape: e.shape, begin: e.data_offsets[0], data: bytes.slice(base + e.data_offsets[0], base + e.data_offsets[1]) });
  }
  return out.sort((a, b) => a.begin - b.begin);
}

export function f32ToBf16Bytes(f32) {
  const u = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < u.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}

// ------------------------------------------------------ hand-made models ---

/** A small SentencePiece-style tokenizer.json whose vocab has all 256 <0xNN> byte tokens. */
export function byteTokenizerJson(extraPieces = ['▁', 'a', 'b', '▁a']) {
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  let next = 259;
  for (const p of extraPieces) vocab[p] = next++;
  const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: ['▁ a'] },
  };
}

/**
 * A model that deterministically continues a fixed cycle of token ids:
 * attention and MLP outputs are zero, so the last hidden state is the
 * current token's embedding (a one-hot), and lm_head maps one-hot i to a
 * large logit on successor[i]. Greedy or any temperature <= 1 follows it.
 */
export function successorModel({ cycle, vocabSize, tokenizer = byteTokenizerJson(), hidden = 16 }) {
  if (vocabSize > 4096) throw new Error('successorModel: vocab too large');
  const d = Math.max(hidden, 8);
  // Embedding: token t -> e_{t mod d} scaled; lm_head row j scores e_{k} where next(k) = j.
  // Tokens outside the cycle all map to the first cycle token.
  const slot = new Map(cycle.map((t, i) => [t, i]));
  if (cycle.length > d) throw new Error('successorModel: cycle longer than hidden size');
  const embed = new Float32Array(vocabSize * d);
  for (let t = 0; t < vocabSize; t++) {
    const s = slot.has(t) ? slot.get(t) : cycle.length - 1; // unknown tokens continue at cycle[0]
    embed[t * d + s] = 1;
  }
  const head = new Float32Array(vocabSize * d);
  for (let i = 0; i < cycle.length; i++) head[cycle[(i + 1) % cycle.length] * d + i] = 50;
  const zeros = (n) => new Float32Array(n);
  const ones = (n) => new Float32Array(n).fill(1);
  const ffn = 16;
  const heads = 2;
  const tensors = [
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [vocabSize, d], data: embed },
    { name: 'lm_head.weight', dtype: 'F32', shape: [vocabSize, d], data: head },
    { name: 'model.norm.weight', dtype: 'F32', shape: [d], data: ones(d) },
    { name: 'model.layers.0.input_layernorm.weight', dtype: 'F32', shape: [d], data: ones(d) },
    { name: 'model.layers.0.post_attention_layernorm.weight', dtype: 'F32', shape: [d], data: ones(d) },
    { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32', shape: [d, d], data: zeros(d * d) },
    { name: 'model.layers.0.self_attn.k_proj.weight', dtype: 'F32', shape: [d, d], data: zeros(d * d) },
    { name: 'model.layers.0.self_attn.v_proj.weight', dtype: 'F32', shape: [d, d], data: zeros(d * d) },
    { name: 'model.layers.0.self_attn.o_proj.weight', dtype: 'F32', shape: [d, d], data: zeros(d * d) },
    { name: 'model.layers.0.mlp.gate_proj.weight', dtype: 'F32', shape: [ffn, d], data: zeros(ffn * d) },
    { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [ffn, d], data: zeros(ffn * d) },
    { name: 'model.layers.0.mlp.down_proj.weight', dtype: 'F32', shape: [d, ffn], data: zeros(d * ffn) },
  ];
  const config = {
    architectures: ['LlamaForCausalLM'],
    hidden_size: d,
    intermediate_size: ffn,
    num_hidden_layers: 1,
    num_attention_heads: heads,
    num_key_value_heads: heads,
    vocab_size: vocabSize,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  };
  return {
    'config.json': JSON.stringify(config),
    'tokenizer.json': JSON.stringify(tokenizer),
    'model.safetensors': safetensorsBytes(tensors),
  };
}

/** Writes { name: string | Uint8Array } files into a fresh temp folder; returns its path. */
export function writeModelDir(files) {
  const dir = tempDir('lm-wasm-model-');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

// ------------------------------------------------------- static server ---

const TYPES = { '.json': 'application/json', '.wasm': 'application/wasm', '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html' };

/**
 * Serves `root` on 127.0.0.1. routes: { '/path': (req, res) => void } for
 * misbehaving servers; `delayMs` slows every body chunk (abort tests).
 * Returns { url, requests: [paths], close() }.
 */
export async function startServer(root, { routes = {}, chunkDelayMs = 0 } = {}) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    if (routes[path]) return routes[path](req, res);
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    if (!chunkDelayMs) return stream.pipe(res);
    for await (const chunk of stream) {
      if (res.destroyed) break;
      res.write(chunk);
      await new Promise((r) => setTimeout(r, chunkDelayMs));
    }
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(r);
    }),
  };
}

export function isWellFormedUtf16(s) {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

export { mkdirSync, writeFileSync, readFileSync, join };
