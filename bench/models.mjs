// The benchmark's models: the real story model, and synthetic Llama models
// (random weights from a seed, the story tokenizer) written by make-model.mjs.
// Each is prepared as an F32 and a BF16 safetensors folder.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { storyModelDir, writeSyntheticModel } from './make-model.mjs';

export const MODELS = {
  story: { name: 'story (TinyStories-656K, real weights)' },
  '6m': { name: 'synthetic 6.6 M (hidden 288, 6 layers, 6 heads, ffn 768, vocab 2048, tied)', shape: { hidden: 288, layers: 6, heads: 6, ffn: 768, vocab: 2048 } },
  '86m': { name: 'synthetic 86 M (hidden 768, 12 layers, 12 heads, ffn 2048, vocab 2048, tied)', shape: { hidden: 768, layers: 12, heads: 12, ffn: 2048, vocab: 2048 } },
};

function f32ToBf16(f32) {
  const u = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < u.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16; // round to nearest even
  return out;
}

/** Copies a model folder with every F32 tensor of model.safetensors stored as BF16. */
export function writeBf16Copy(srcDir, dstDir) {
  mkdirSync(dstDir, { recursive: true });
  const bytes = readFileSync(join(srcDir, 'model.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const entries = Object.entries(header).filter(([name]) => name !== '__metadata__').sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const out = {};
  if (header.__metadata__) out.__metadata__ = header.__metadata__;
  const blobs = [];
  let offset = 0;
  for (const [name, e] of entries) {
    let data = bytes.subarray(base + e.data_offsets[0], base + e.data_offsets[1]);
    let dtype = e.dtype;
    if (dtype === 'F32') {
      const f = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      data = new Uint8Array(f32ToBf16(f).buffer);
      dtype = 'BF16';
    }
    out[name] = { dtype, shape: e.shape, data_offsets: [offset, offset + data.length] };
    blobs.push(data);
    offset += data.length;
  }
  let text = JSON.stringify(out);
  while ((8 + text.length) % 8) text += ' ';
  const fd = openSync(join(dstDir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeSync(fd, len);
  writeSync(fd, text);
  for (const b of blobs) writeSync(fd, b);
  closeSync(fd);
  const config = JSON.parse(readFileSync(join(srcDir, 'config.json'), 'utf8'));
  config.torch_dtype = 'bfloat16';
  writeFileSync(join(dstDir, 'config.json'), JSON.stringify(config, null, 2));
  copyFileSync(join(srcDir, 'tokenizer.json'), join(dstDir, 'tokenizer.json'));
}

const fileBytes = (dir) => statSync(join(dir, 'model.safetensors')).size;

/**
 * Prepares `key` in `tmp`: { key, name, config, dirs: { F32, BF16 }, fileBytes: { F32, BF16 } }.
 * dtypes: which files are needed ('F32', 'BF16').
 */
export function prepareModel(key, tmp, dtypes = ['F32', 'BF16']) {
  const m = MODELS[key];
  const dirs = {};
  if (key === 'story') {
    const story = storyModelDir();
    if (dtypes.includes('F32')) dirs.F32 = story;
    if (dtypes.includes('BF16')) writeBf16Copy(story, (dirs.BF16 = join(tmp, 'story-bf16')));
  } else {
    for (const dtype of dtypes) writeSyntheticModel((dirs[dtype] = join(tmp, `${key}-${dtype.toLowerCase()}`)), { ...m.shape, dtype, seed: 1 });
  }
  const anyDir = Object.values(dirs)[0];
  const config = JSON.parse(readFileSync(join(anyDir, 'config.json'), 'utf8'));
  return { key, name: m.name, config, dirs, fileBytes: Object.fromEntries(Object.entries(dirs).map(([d, dir]) => [d, fileBytes(dir)])) };
}
