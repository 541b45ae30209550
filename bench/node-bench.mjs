#!/usr/bin/env node
// The WebAssembly engine in Node, in this process (loadModel with worker:
// false). bench/run.mjs starts one process per configuration, so memory
// figures and V8's compiled code belong to that configuration alone.
//
//   node bench/node-bench.mjs --model DIR [--weights auto|f32|bf16|q8] [--threads N] [--runs N]
//        [--prompt-tokens 128] [--decode-tokens 256] [--warmup-tokens 32] [--context 512] [--memory-load]
//   node bench/node-bench.mjs --machine [--budget-ms 600] [--buffer-mb 256]
//
// Prints one JSON object (the same fields as native/lm_bench.cpp). When the
// engine refuses the configuration: exit code 1 and the reason on stderr.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchModel, measureMachine } from './wasm-protocol.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const a = { weights: 'auto', threads: 1, runs: 3, promptTokens: 128, decodeTokens: 256, warmupTokens: 32, context: 512, budgetMs: 600, bufferMb: 256 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const key = flag.replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (flag === '--machine') a.machine = true;
    else if (flag === '--memory-load') a.memoryLoad = true;
    else if (flag === '--model' || flag === '--weights') a[key] = argv[++i];
    else if (key in a && i + 1 < argv.length && Number.isFinite(Number(argv[i + 1]))) a[key] = Number(argv[++i]);
    else {
      console.error(`node-bench: bad option '${flag}'`);
      process.exit(2);
    }
  }
  if (!a.machine && !a.model) {
    console.error('node-bench: --model DIR is required (or --machine)');
    process.exit(2);
  }
  return a;
}

// Load from bytes already in memory (the files read beforehand) against the
// floor it cannot beat: one copy of the same bytes into a fresh WebAssembly
// memory (what every load pays: the bytes must enter wasm memory once, and
// fresh pages fault in). The two alternate, run after run, so both see the
// same state of the machine.
async function measureMemoryLoad(loadModel, dir, a) {
  const { default: createLmWasm } = await import('../dist/lm-wasm.mjs');
  const wasmBinary = readFileSync(join(root, 'dist/lm-wasm.wasm'));
  const files = {};
  for (const name of readdirSync(dir)) if (/\.(json|safetensors)$/.test(name)) files[name] = new Uint8Array(readFileSync(join(dir, name)));
  const weights = Object.entries(files).filter(([n]) => n.endsWith('.safetensors')).map(([, b]) => b);
  const copyMs = [];
  const loadMs = [];
  for (let i = 0; i <= a.runs; i++) {
    const M = await createLmWasm({ wasmBinary });
    const t0 = performance.now();
    const buffers = weights.map((bytes) => {
      const b = new M.Buffer(bytes.length);
      b.write(bytes, 0);
      return b;
    });
    const copy = performance.now() - t0;
    for (const b of buffers) b.delete();
    const t1 = performance.now();
    const model = await loadModel(files, { worker: false, weights: a.weights, threads: a.threads, contextLength: a.context });
    const load = performance.now() - t1;
    await model.dispose();
    if (i > 0) {
      // the first pair warms V8 up
      copyMs.push(copy);
      loadMs.push(load);
    }
  }
  return { copy_ms: copyMs, load_ms: loadMs };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.machine) {
    const { default: createLmWasm } = await import('../dist/lm-wasm.mjs');
    const M = await createLmWasm({ wasmBinary: readFileSync(join(root, 'dist/lm-wasm.wasm')) });
    return { engine: 'node', ...measureMachine(M, a.budgetMs, a.bufferMb) };
  }
  const { loadModel } = await import('../web/lib/node.js');
  const r = await benchModel(loadModel, a.model, {
    weights: a.weights,
    threads: a.threads,
    runs: a.runs,
    promptTokens: a.promptTokens,
    decodeTokens: a.decodeTokens,
    warmupTokens: a.warmupTokens,
    context: a.context,
    loadOptions: { worker: false },
  });
  const memoryLoad = a.memoryLoad ? await measureMemoryLoad(loadModel, a.model, a) : undefined;
  return {
    engine: 'node',
    model: a.model,
    ...r,
    ...(memoryLoad ? { memory_load: memoryLoad } : {}),
    simd: r.info.simd,
    // The process as a whole (V8 heap, the compiled module, the wasm memories of all runs at their peak).
    process_peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
}

main().then(
  (out) => console.log(JSON.stringify(out)),
  (e) => {
    console.error(`node-bench: ${e?.message ?? e}`);
    process.exit(1);
  },
);
