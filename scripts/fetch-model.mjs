#!/usr/bin/env node
// Downloads a model's files from the Hugging Face hub into a folder:
//   node scripts/fetch-model.mjs <owner/name> <dir>
// Fails within seconds, saying where to put the files, when the hub is unreachable.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const [repo, dir] = process.argv.slice(2);
if (!repo || !dir) {
  console.error('usage: fetch-model.mjs <owner/name> <dir>');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) {
  const url = `https://huggingface.co/${repo}/resolve/main/${file}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(600_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await writeFile(join(dir, `${file}.part`), new Uint8Array(await response.arrayBuffer()));
    renameSync(join(dir, `${file}.part`), join(dir, file));
    console.log(`downloaded ${file}`);
  } catch (e) {
    rmSync(join(dir, `${file}.part`), { force: true });
    console.error(`could not download ${url} (${e.cause?.code ?? e.message}); put config.json, tokenizer.json and model.safetensors in ${dir}/`);
    process.exit(1);
  }
}
