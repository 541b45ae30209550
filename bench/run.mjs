#!/usr/bin/env node
// `npm run bench`: speed of lm-wasm natively (build/native/lm-bench), as
// WebAssembly in Node (bench/node-bench.mjs) and as WebAssembly in headless
// Chromium (bench/chromium-bench.mjs), on the real story model and synthetic
// 6.6 M and 86 M models, each as F32 and BF16 safetensors and quantized to
// int8 at load. Not part of the test suite.
//
//   npm run bench -- [--runs N] [--quick] [--only native,node,chromium] [--models story,6m,86m]
//                    [--formats f32,bf16,q8] [--threads 1,2]
//
// Writes bench/results/latest.json (every figure) and bench/results/latest.md
// (one table per model), and prints the Markdown at the end. A configuration
// an engine refuses (an unknown weight format, threads in a build without
// them) or cannot run (a missing build or browser) is listed as n/a with the
// reason, never dropped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadSizes } from './download.mjs';
import { MODELS, prepareModel } from './models.mjs';
import { fmt, fmtBytes, fmtPercent, fmtSummary, markdownTable, summarize } from './stats.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LM_BENCH = join(root, 'build/native/lm-bench');
const ENGINES = ['native', 'node', 'chromium'];
// format -> the file it is read from and the engine's weights option.
// q8 is quantized at load from the BF16 file (as most published checkpoints are stored).
const FORMATS = {
  f32: { file: 'F32', weights: 'auto' },
  bf16: { file: 'BF16', weights: 'auto' },
  q8: { file: 'BF16', weights: 'q8' },
};
const PROTOCOL = { promptTokens: 128, decodeTokens: 256, warmupTokens: 32, context: 512 };

const USAGE = `usage: npm run bench -- [options]
  --runs N              timed runs per configuration, after a cold one (default 3)
  --quick               1 run, shorter machine tests, and the 86 M model only as BF16 and q8
  --only LIST           engines: native,node,chromium (default all)
  --models LIST         story,6m,86m (default all)
  --formats LIST        f32,bf16,q8 (default all)
  --threads LIST        1,2 (default both)`;

function parseArgs(argv) {
  const o = { runs: 3, quick: false, only: ENGINES, models: Object.keys(MODELS), formats: Object.keys(FORMATS), threads: [1, 2] };
  const list = (flag, value, allowed) => {
    const items = String(value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((s) => !allowed.includes(s));
    if (!items.length || bad.length) usage(`${flag}: expected a list of ${allowed.join(', ')}`);
    return items;
  };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => argv[++i];
    if (flag === '--runs') {
      o.runs = Number(value());
      runsGiven = true;
      if (!Number.isInteger(o.runs) || o.runs < 1) usage('--runs must be an integer >= 1');
    } else if (flag === '--quick') o.quick = true;
    else if (flag === '--only') o.only = list(flag, value(), ENGINES);
    else if (flag === '--models') o.models = list(flag, value(), Object.keys(MODELS));
    else if (flag === '--formats') o.formats = list(flag, value(), Object.keys(FORMATS));
    else if (flag === '--threads') o.threads = list(flag, value(), ['1', '2', '3', '4']).map(Number);
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else usage(`unknown option '${flag}'`);
  }
  if (o.quick && !runsGiven) o.runs = 1;
  o.machineBudgetMs = o.quick ? 400 : 1000;
  return o;
}

function usage(message) {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

const log = (...a) => console.error(...a);

// ------------------------------------------------------------ machine ---

function describeMachine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {}
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory_bytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    description: `${cpu}, ${os.availableParallelism?.() ?? os.cpus().length} cores, ${fmtBytes(os.totalmem())} RAM`,
  };
}

// ------------------------------------------------------- child engines ---

/** Runs a benchmark child process; its stdout is one JSON object. Throws with its stderr's message. */
function runChild(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60 * 60_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n').filter(Boolean);
    const line = lines.find((l) => /^(lm-bench|node-bench):/.test(l)) ?? lines[0] ?? `exit code ${r.status ?? r.signal}`;
    throw new Error(line.replace(/^(lm-bench|node-bench):\s*/, ''));
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function protocolArgs(o) {
  return ['--runs', o.runs, '--prompt-tokens', PROTOCOL.promptTokens, '--decode-tokens', PROTOCOL.decodeTokens,
    '--warmup-tokens', PROTOCOL.warmupTokens, '--context', PROTOCOL.context].map(String);
}

/** Per engine: { available: null | reason it cannot run, machine(), run(dir, key, weights, threads), close() }. */
async function openEngine(engine, o, modelDirs) {
  if (engine === 'native') {
    const missing = existsSync(LM_BENCH) ? null : 'build/native/lm-bench is missing (cmake --build build/native --target lm-bench)';
    return {
      missing,
      machine: () => runChild(LM_BENCH, ['--machine', '--budget-ms', String(o.machineBudgetMs)]),
      run: (dir, _key, weights, threads) => runChild(LM_BENCH, ['--model', dir, '--weights', weights, '--threads', String(threads), ...protocolArgs(o)]),
      close() {},
    };
  }
  if (engine === 'node') {
    const script = join(root, 'bench/node-bench.mjs');
    const missing = existsSync(join(root, 'dist/lm-wasm.mjs')) ? null : 'dist/lm-wasm.mjs is missing (build the WebAssembly module)';
    return {
      missing,
      machine: () => runChild(process.execPath, [script, '--machine', '--budget-ms', String(o.machineBudgetMs)]),
      run: (dir, _key, weights, threads) =>
        runChild(process.execPath, [script, '--model', dir, '--weights', weights, '--threads', String(threads), ...protocolArgs(o),
          ...(threads === 1 ? ['--memory-load'] : [])]),
      close() {},
    };
  }
  // chromium: one browser and server for every configuration.
  let bench = null;
  let missing = existsSync(join(root, 'dist/lm-wasm.mjs')) ? null : 'dist/lm-wasm.mjs is missing (build the WebAssembly module)';
  if (!missing) {
    try {
      const { startChromiumBench } = await import('./chromium-bench.mjs');
      bench = await startChromiumBench(modelDirs);
    } catch (e) {
      missing = `headless Chromium unavailable: ${e.message}`;
    }
  }
  return {
    missing,
    version: bench?.version,
    crossOriginIsolated: bench?.crossOriginIsolated,
    machine: () => bench.machine(o.machineBudgetMs, 256),
    run: (_dir, key, weights, threads) =>
      bench.run(key, { weights, threads, runs: o.runs, ...PROTOCOL }),
    close: () => bench?.close(),
  };
}

// ------------------------------------------------------------ figures ---

/** Weights that take part in matrix products per token: all but the embedding lookup (lm_head runs once per prefill chunk). */
function matmulParameters(info, config) {
  const embed = info.vocab_size * info.hidden_size;
  return info.parameters - (config.tie_word_embeddings === false ? 2 : 1) * embed;
}

function summarizeResult(raw, machine, config, threads) {
  const pick = (key) => summarize(raw.runs.map((r) => r[key]));
  const s = {
    load_ms: pick('load_ms'),
    ttft_ms: pick('ttft_ms'),
    prefill_tok_s: pick('prefill_tok_s'),
    decode_tok_s: pick('decode_tok_s'),
  };
  const weightBytes = raw.info.weight_bytes;
  const bytesPerToken = raw.info.weight_bytes_per_token ?? weightBytes;
  const out = {
    summary: s,
    cold: { load_ms: raw.cold.load_ms, ttft_ms: raw.cold.ttft_ms, prefill_tok_s: raw.cold.prefill_tok_s, decode_tok_s: raw.cold.decode_tok_s },
    weight_bytes: weightBytes,
    weight_dtype: raw.info.weight_dtype,
    parameters: raw.info.parameters,
    simd: raw.simd ?? raw.info.simd,
    peak_memory_bytes: raw.engine === 'native' ? raw.peak_rss_bytes : raw.peak_wasm_memory_bytes,
    peak_memory_kind: raw.engine === 'native' ? 'process peak RSS (VmHWM)' : 'wasm memory size (its peak)',
  };
  if (raw.process_peak_rss_bytes) out.process_peak_rss_bytes = raw.process_peak_rss_bytes;
  if (raw.memory_load) {
    const copy = summarize(raw.memory_load.copy_ms), load = summarize(raw.memory_load.load_ms);
    out.memory_load = { copy_ms: copy, load_ms: load, load_over_copy: load.median / copy.median, load_over_copy_min: load.min / copy.min };
  }
  if (raw.engine !== 'native' && raw.peak_wasm_memory_bytes && raw.info.session_bytes !== undefined)
    out.memory_over_weights_and_session = raw.peak_wasm_memory_bytes / (weightBytes + raw.info.session_bytes);
  if (machine?.read_bandwidth_gb_s && bytesPerToken) {
    out.weight_bytes_per_token = bytesPerToken;
    out.bandwidth_limit_tok_s = (machine.read_bandwidth_gb_s * 1e9) / bytesPerToken;
    out.decode_fraction_of_bandwidth_limit = s.decode_tok_s.median / out.bandwidth_limit_tok_s;
  }
  if (machine?.simd_gflop_s) {
    out.prefill_gflop_s = (2 * matmulParameters(raw.info, config) * s.prefill_tok_s.median) / 1e9;
    out.prefill_fraction_of_simd_peak = out.prefill_gflop_s / (machine.simd_gflop_s * threads);
  }
  return out;
}

// ----------------------------------------------------------- markdown ---

function markdown(report) {
  const lines = [];
  lines.push('# lm-wasm benchmark', '');
  lines.push(`${report.date} · ${report.machine.description} · Node ${report.node}${report.chromium ? ` · Chromium ${report.chromium}` : ''}`, '');
  lines.push(
    `Each figure: median [min–max] of ${report.options.runs} run${report.options.runs > 1 ? 's' : ''}, each loading the model afresh, after a cold run ` +
      `(its load and TTFT in the "cold" column). TTFT: prompt "Once upon a time". Prefill: a ${PROTOCOL.promptTokens}-token prompt. ` +
      `Decode: ${PROTOCOL.decodeTokens} tokens, ignoring end of story, temperature 0.8, seed 1. KV cache ${PROTOCOL.context} positions. ` +
      'Formats: f32 / bf16 = the safetensors file as stored (the story model\'s F32 file holds only bf16 values, ' +
      'so its matrices are narrowed to bf16 in place at load, losslessly); q8 = int8 quantized at load (from the BF16 file).' +
      (report.options.quick ? ' Quick run (--quick): the 86 M model only as bf16 and q8.' : ''),
    '',
  );
  lines.push('## Machine (one thread)', '');
  lines.push(
    markdownTable(
      ['environment', 'read bandwidth', 'SIMD peak', 'SIMD'],
      Object.entries(report.environments).map(([env, m]) =>
        m.error ? [env, 'n/a', 'n/a', m.error] : [env, `${fmt(m.read_bandwidth_gb_s)} GB/s`, `${fmt(m.simd_gflop_s)} GFLOP/s`, m.simd ?? ''],
      ),
    ),
    '',
  );
  if (report.download) {
    const d = report.download;
    const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
    lines.push('## Download (gzip -9)', '');
    lines.push(
      markdownTable(
        ['what a page loads', 'gzipped', 'of which .wasm', 'uncompressed'],
        [
          ['package, single-thread build (JS + wasm)', kb(d.single.gzip), kb(d.single.files.find((f) => f.path.endsWith('.wasm')).gzip), kb(d.single.bytes)],
          ['package, pthreads build (cross-origin isolated pages)', kb(d.threads.gzip), kb(d.threads.files.find((f) => f.path.endsWith('.wasm')).gzip), kb(d.threads.bytes)],
          ['the story page itself (HTML, app.js, CSS)', kb(d.page.gzip), '–', kb(d.page.bytes)],
        ],
      ),
      '',
    );
  }
  for (const model of report.models) {
    lines.push(`## ${model.key}: ${model.name}`, '');
    lines.push(`${(model.parameters / 1e6).toFixed(2)} M parameters; files: ${Object.entries(model.file_bytes).map(([d, b]) => `${d} ${fmtBytes(b)}`).join(', ')}.`, '');
    const rows = report.results
      .filter((r) => r.model === model.key)
      .map((r) => {
        const head = [r.engine, r.format, String(r.threads)];
        if (r.status !== 'ok') return [...head, 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', r.reason];
        const s = r.summary;
        return [
          ...head,
          fmtSummary(s.load_ms),
          fmtSummary(s.ttft_ms),
          `${fmt(r.cold.load_ms)} / ${fmt(r.cold.ttft_ms)}`,
          fmtSummary(s.prefill_tok_s),
          fmtPercent(r.prefill_fraction_of_simd_peak),
          fmtSummary(s.decode_tok_s),
          r.bandwidth_limit_tok_s ? `${fmtPercent(r.decode_fraction_of_bandwidth_limit)} of ${fmt(r.bandwidth_limit_tok_s)}` : '–',
          fmtBytes(r.peak_memory_bytes),
          '',
        ];
      });
    lines.push(
      markdownTable(
        ['engine', 'format', 'threads', 'load ms', 'TTFT ms', 'cold: load / TTFT ms', 'prefill tok/s', 'prefill % of SIMD peak', 'decode tok/s', 'decode % of bandwidth limit (tok/s)', 'peak memory', 'notes'],
        rows,
      ),
      '',
    );
    const loads = report.results.filter((r) => r.model === model.key && r.status === 'ok' && r.memory_load);
    if (loads.length) {
      lines.push('Load from bytes in memory (Node, one thread), against one copy of the weight bytes into a fresh WebAssembly memory; ' +
        'wasm memory against weights + one session (KV cache and activations):', '');
      lines.push(
        markdownTable(
          ['format', 'copy ms', 'load ms', 'load / copy (medians; minimums)', 'wasm memory / (weights + session)'],
          loads.map((r) => [
            r.format,
            fmtSummary(r.memory_load.copy_ms),
            fmtSummary(r.memory_load.load_ms),
            `${fmt(r.memory_load.load_over_copy)}; ${fmt(r.memory_load.load_over_copy_min)}`,
            r.memory_over_weights_and_session ? fmt(r.memory_over_weights_and_session) : '–',
          ]),
        ),
        '',
      );
    }
  }
  lines.push(
    'Notes:',
    '- Read bandwidth: one thread reading a 256 MB buffer as six far-apart streams, the way decode reads weight rows ' +
      '(one sequential stream gets less on many machines).',
    '- Bandwidth limit = read bandwidth / weight bytes one decode step reads (every matrix, in the form the kernels use). ' +
      'A model that fits in the caches (the story model) can pass 100%, as can 2 threads (the bandwidth is measured with one).',
    '- Prefill % of SIMD peak: 2 × (parameters − embedding) × prefill tok/s against the one-thread peak × threads.',
    '- Peak memory: native = the process\'s peak RSS; wasm = the size of the engine\'s WebAssembly memory (never shrinks, so its peak).',
    '- Chromium: each run loads the model in a new Web Worker (as a page does); workers after the first reuse the compiled WebAssembly module.',
  );
  if (report.warnings.length) lines.push('', 'Warnings:', ...report.warnings.map((w) => `- ${w}`));
  return `${lines.join('\n')}\n`;
}

// --------------------------------------------------------------- main ---

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(os.tmpdir(), 'lm-bench-'));
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

  // Models: which files each needs, given the formats asked for (and --quick).
  const plan = o.models.map((key) => {
    let formats = o.formats;
    if (o.quick && key === '86m') formats = formats.filter((f) => f !== 'f32');
    return { key, formats, dtypes: [...new Set(formats.map((f) => FORMATS[f].file))] };
  });
  const models = [];
  const modelDirs = {}; // "<key>-<dtype>" -> dir (the Chromium server's /bench-models/)
  for (const p of plan) {
    if (!p.formats.length) continue;
    log(`preparing ${p.key} (${p.dtypes.join(', ')}) in ${tmp}`);
    const m = prepareModel(p.key, tmp, p.dtypes);
    for (const [dtype, dir] of Object.entries(m.dirs)) modelDirs[`${p.key}-${dtype.toLowerCase()}`] = dir;
    models.push({ ...m, formats: p.formats });
  }

  const report = {
    date: new Date().toISOString(),
    machine: describeMachine(),
    node: process.version,
    chromium: null,
    options: { runs: o.runs, quick: o.quick, engines: o.only, models: o.models, formats: o.formats, threads: o.threads, ...PROTOCOL },
    environments: {},
    models: [],
    prompt_ids: null,
    results: [],
    warnings: [],
    download: downloadSizes(root),
  };

  for (const engine of o.only) {
    log(`\n== ${engine}`);
    const e = await openEngine(engine, o, modelDirs);
    if (engine === 'chromium') {
      report.chromium = e.version ?? null;
      if (e.version && !e.crossOriginIsolated) report.warnings.push('the Chromium bench page was not cross-origin isolated: threads cannot work there');
    }
    let machine = null;
    if (e.missing) report.environments[engine] = { error: e.missing };
    else {
      try {
        machine = await e.machine();
        report.environments[engine] = machine;
        log(`machine: ${fmt(machine.read_bandwidth_gb_s)} GB/s read, ${fmt(machine.simd_gflop_s)} GFLOP/s SIMD (${machine.simd})`);
      } catch (err) {
        report.environments[engine] = { error: err.message };
        log(`machine: n/a (${err.message})`);
      }
    }
    for (const m of models)
      for (const format of m.formats)
        for (const threads of o.threads) {
          const { file, weights } = FORMATS[format];
          const entry = { model: m.key, engine, format, threads };
          const label = `${engine} ${m.key} ${format} ×${threads}`;
          if (e.missing) {
            report.results.push({ ...entry, status: 'n/a', reason: e.missing });
            continue;
          }
          try {
            const raw = await e.run(m.dirs[file], `${m.key}-${file.toLowerCase()}`, weights, threads);
            const result = { ...entry, status: 'ok', ...summarizeResult(raw, machine, m.config, threads) };
            // Every engine must have used the same prompt.
            const ids = raw.info.prompt_ids;
            if (!report.prompt_ids) report.prompt_ids = ids;
            else if (JSON.stringify(ids) !== JSON.stringify(report.prompt_ids))
              report.warnings.push(`${label}: prompt ids differ from the first configuration's`);
            delete raw.info.prompt_ids;
            result.raw = raw;
            report.results.push(result);
            log(`${label}: load ${fmt(result.summary.load_ms.median)} ms, TTFT ${fmt(result.summary.ttft_ms.median)} ms, ` +
              `prefill ${fmt(result.summary.prefill_tok_s.median)} tok/s, decode ${fmt(result.summary.decode_tok_s.median)} tok/s`);
          } catch (err) {
            report.results.push({ ...entry, status: 'n/a', reason: err.message });
            log(`${label}: n/a (${err.message})`);
          }
        }
    await e.close();
  }

  report.models = models.map((m) => {
    const ok = report.results.find((r) => r.model === m.key && r.status === 'ok');
    const c = m.config;
    const params = ok?.parameters ?? estimateParameters(c);
    return { key: m.key, name: m.name, parameters: params, config: c, formats: m.formats, file_bytes: m.fileBytes };
  });

  const md = markdown(report);
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), md);
  log(`\nwrote bench/results/latest.json and bench/results/latest.md\n`);
  console.log(md);
}

/** Parameters of a Llama config (for the heading when no configuration ran). */
function estimateParameters(c) {
  const d = c.hidden_size, f = c.intermediate_size, V = c.vocab_size;
  const hd = c.head_dim ?? d / c.num_attention_heads;
  const q = c.num_attention_heads * hd, kv = (c.num_key_value_heads ?? c.num_attention_heads) * hd;
  const layer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * f;
  return V * d * (c.tie_word_embeddings === false ? 2 : 1) + c.num_hidden_layers * layer + d;
}

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  process.exit(1);
});
