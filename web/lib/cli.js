#!/usr/bin/env node
// lm-wasm: the package's command line, with exactly the native lm-story's
// output formats so the two can be compared line by line.
//
//   lm-wasm generate --model <dir|url|owner/name> --prompt TEXT [--max-tokens N]
//                    [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]
//                    [--seed S] [--stop TEXT]... [--ignore-eos] [--context N] [--json]
//   lm-wasm tokenize --model ... --text TEXT      -> [1,80,...]
//   lm-wasm detokenize --model ... --ids 1,80,147 -> text
import { existsSync } from 'node:fs';
import { loadModel } from './node.js';

const USAGE = `usage: lm-wasm generate --model <dir|url|owner/name> [--prompt TEXT] [--max-tokens N]
                        [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]
                        [--seed S] [--stop TEXT]... [--ignore-eos] [--context N] [--threads N] [--json]
       lm-wasm tokenize --model ... --text TEXT
       lm-wasm detokenize --model ... --ids IDS
Without --model: models/story/, ../shared/models/story/, then the Hugging Face
repo raincandy-u/TinyStories-656K.
`;

class UsageError extends Error {}

const FLAGS = {
  '--model': 'model',
  '--prompt': 'prompt',
  '--text': 'text',
  '--ids': 'ids',
  '--max-tokens': 'maxTokens',
  '--temperature': 'temperature',
  '--top-k': 'topK',
  '--top-p': 'topP',
  '--repetition-penalty': 'repetitionPenalty',
  '--seed': 'seed',
  '--stop': 'stop',
  '--context': 'contextLength',
  '--threads': 'threads',
};
const NUMERIC = new Set(['maxTokens', 'temperature', 'topK', 'topP', 'repetitionPenalty', 'seed', 'contextLength', 'threads']);

function parseArgs(argv) {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') return { command: 'help' };
  if (!['generate', 'tokenize', 'detokenize'].includes(command)) throw new UsageError(`unknown command '${command}'`);
  const a = { command, stop: [], json: false, ignoreEos: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === '--json') a.json = true;
    else if (flag === '--ignore-eos') a.ignoreEos = true;
    else if (flag === '--help' || flag === '-h') return { command: 'help' };
    else if (FLAGS[flag]) {
      if (i + 1 >= rest.length) throw new UsageError(`${flag} needs a value`);
      const key = FLAGS[flag];
      let value = rest[++i];
      if (NUMERIC.has(key)) {
        if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) throw new UsageError(`${flag}: not a number: '${value}'`);
        value = Number(value);
      }
      if (key === 'stop') a.stop.push(value);
      else a[key] = value;
    } else throw new UsageError(`unknown option '${flag}'`);
  }
  return a;
}

function resolveModel(flag) {
  if (flag) return flag;
  for (const dir of ['models/story', '../shared/models/story']) if (existsSync(`${dir}/config.json`)) return dir;
  return 'raincandy-u/TinyStories-656K';
}

function parseIds(text) {
  const parts = text.replace(/[[\],]/g, ' ').trim().split(/\s+/).filter(Boolean);
  return parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new UsageError(`--ids: not a number: '${p}'`);
    return Number(p);
  });
}

const write = (s) => new Promise((resolve) => (process.stdout.write(s) ? resolve() : process.stdout.once('drain', resolve)));

async function run(a) {
  if (a.command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const model = await loadModel(resolveModel(a.model), {
    contextLength: a.contextLength,
    threads: a.threads,
  });
  try {
    if (a.command === 'tokenize') {
      if (a.text === undefined) throw new UsageError('tokenize needs --text');
      await write(`${JSON.stringify(await model.tokenize(a.text))}\n`);
      return;
    }
    if (a.command === 'detokenize') {
      if (a.ids === undefined) throw new UsageError('detokenize needs --ids');
      await write(`${await model.detokenize(parseIds(a.ids))}\n`);
      return;
    }
    const prompt = a.prompt ?? 'Once upon a time';
    const options = {
      maxTokens: a.maxTokens ?? 256,
      temperature: a.temperature,
      topK: a.topK,
      topP: a.topP,
      repetitionPenalty: a.repetitionPenalty,
      seed: a.seed,
      stop: a.stop,
      ignoreEos: a.ignoreEos,
    };
    const generation = model.generate(prompt, options);
    if (!a.json) await write(prompt);
    for await (const chunk of generation) {
      await write(a.json ? `${JSON.stringify({ id: chunk.id, text: chunk.text })}\n` : chunk.text);
    }
    const r = await generation;
    if (a.json) {
      const done = {
        done: true,
        reason: r.reason,
        prompt_ids: r.promptIds,
        ids: r.ids,
        text: r.text,
        prefill_ms: r.stats.prefillMs,
        decode_tokens_per_s: r.stats.decodeTokensPerS,
      };
      await write(`${JSON.stringify(done)}\n`);
    } else {
      await write('\n');
      const s = r.stats;
      process.stderr.write(
        `[${model.info.simd}] load ${s.loadMs.toFixed(1)} ms, prompt ${s.promptTokens} tokens at ${s.prefillTokensPerS.toFixed(0)} tok/s, ` +
          `${s.generatedTokens} tokens at ${s.decodeTokensPerS.toFixed(1)} tok/s, stop: ${r.reason}\n`,
      );
    }
  } finally {
    await model.dispose();
  }
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`lm-wasm: ${e.message}\n${USAGE}`);
  process.exit(2);
}
run(args).catch((e) => {
  const message = String(e?.message ?? e).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`lm-wasm: ${message}\n`);
  if (e instanceof UsageError) process.stderr.write(USAGE);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
