// The benchmark protocol for the WebAssembly engine through the package's
// public API (loadModel), shared by Node (node-bench.mjs) and the Chromium
// bench page (page.mjs). Mirrors native/lm_bench.cpp: a cold run (which also
// warms V8's tiered compiler up) followed by `runs` timed runs, each of which
// loads the model afresh, takes the time to first token of a short prompt and
// generates from a prompt of exactly `promptTokens` ids.
//
// No Node or DOM imports here: it runs in both.

// Keep in step with kStoryText in native/lm_bench.cpp (bench/run.mjs checks
// that every engine used the same prompt ids).
export const STORY_TEXT =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her ' +
  'friends. One day, she saw a big red ball under a tall tree. She ran to the ball and picked it up. ' +
  '"Can I play with you?" asked a small dog. Lily smiled and said, "Yes, let\'s play together!" ' +
  'They played all day until the sun went down, and then they went home happy. ';

export const SHORT_PROMPT = 'Once upon a time';

const now = () => performance.now();

/** The prefill prompt: STORY_TEXT repeated, tokenized (with BOS) and cut to n ids. */
export async function promptIds(model, n) {
  let text = '';
  let ids = [];
  while (ids.length < n) {
    text += STORY_TEXT;
    ids = await model.tokenize(text);
  }
  return ids.slice(0, n);
}

const sampling = (maxTokens) => ({ maxTokens, temperature: 0.8, seed: 1, ignoreEos: true });

async function runOnce(loadModel, source, o, decodeTokens) {
  const t0 = now();
  const model = await loadModel(source, { ...o.loadOptions, weights: o.weights, threads: o.threads, contextLength: o.context });
  const loadMs = now() - t0;
  try {
    // Time to first token of the short prompt, as the caller sees it.
    const t1 = now();
    let ttftMs = null;
    const short = model.generate(SHORT_PROMPT, { maxTokens: 1, temperature: 0.8, seed: 1 });
    for await (const _chunk of short) if (ttftMs === null) ttftMs = now() - t1;
    const shortResult = await short;

    const ids = await promptIds(model, o.promptTokens);
    const r = await model.generate(ids, sampling(decodeTokens));
    const s = r.stats;
    const memory = await model.memory();
    return {
      run: {
        load_ms: loadMs,
        ttft_ms: ttftMs,
        ttft_engine_ms: shortResult.stats.timeToFirstTokenMs,
        prompt_tokens: s.promptTokens,
        prefill_ms: s.prefillMs,
        prefill_tok_s: s.prefillTokensPerS,
        generated_tokens: s.generatedTokens,
        decode_ms: s.decodeMs,
        decode_tok_s: s.decodeTokensPerS,
        // Wasm memory never shrinks: its size after the run is the instance's peak.
        wasm_memory_bytes: memory.memoryBytes,
      },
      info: {
        parameters: model.info.parameters,
        weight_bytes: model.info.weightBytes,
        weight_bytes_per_token: model.info.weightBytesPerToken,
        weight_dtype: model.info.weightDtype,
        hidden_size: model.info.hiddenSize,
        layers: model.info.layers,
        vocab_size: model.info.vocabSize,
        context_length: model.info.contextLength,
        session_bytes: model.info.sessionBytes,
        simd: model.info.simd,
        threads: model.info.threads,
        prompt_ids: ids,
      },
    };
  } finally {
    await model.dispose();
  }
}

/**
 * options: { weights, threads, runs = 3, promptTokens = 128, decodeTokens = 256,
 * warmupTokens = 32, context = 512, loadOptions (extra loadModel options) }.
 * Resolves to { weights, threads, cold, runs: [...], info, peak_wasm_memory_bytes };
 * rejects when the engine refuses the configuration.
 */
export async function benchModel(loadModel, source, options) {
  const o = { runs: 3, promptTokens: 128, decodeTokens: 256, warmupTokens: 32, context: 512, loadOptions: {}, ...options };
  const cold = await runOnce(loadModel, source, o, o.warmupTokens);
  const runs = [];
  for (let i = 0; i < o.runs; i++) runs.push((await runOnce(loadModel, source, o, o.decodeTokens)).run);
  return {
    weights: o.weights,
    threads: o.threads,
    cold: cold.run,
    info: cold.info,
    runs,
    peak_wasm_memory_bytes: Math.max(cold.run.wasm_memory_bytes, ...runs.map((r) => r.wasm_memory_bytes)),
  };
}

/** Read bandwidth and SIMD peak from the raw Embind module `M` (its measureMachine, when built in). */
export function measureMachine(M, budgetMs = 600, bufferMB = 256) {
  if (typeof M.measureMachine !== 'function')
    throw new Error('this dist/lm-wasm.mjs has no measureMachine (rebuild the WebAssembly module)');
  // V8 runs a function's first call with its baseline compiler (Liftoff) and
  // only a later call with optimized code (there is no on-stack replacement
  // in wasm): measured cold, the SIMD peak comes out ~5x too low.
  M.measureMachine(150, 16);
  const f = M.measureMachine(budgetMs, bufferMB);
  return { read_bandwidth_gb_s: f.readBandwidthGBs, simd_gflop_s: f.simdGflops, simd: M.simdBackend?.() };
}
