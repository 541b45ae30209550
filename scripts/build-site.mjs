#!/usr/bin/env node
// Assembles the static site (the story page, the embed example and the
// lm-wasm package) into one folder that any static host serves as it is:
//   build/site/            index.html, app.js, style.css, embed.html, sw.js
//   build/site/lm-wasm/    web/lib/*.js and dist/lm-wasm{,-mt}.{mjs,wasm} (+ the pthread worker)
// Model files are not part of it: put them in build/site/models/<name>/ (npm
// start links them there) or point the page at any URL.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.argv[2] ?? 'build/site');

const DIST = ['lm-wasm.mjs', 'lm-wasm.wasm', 'lm-wasm-mt.mjs', 'lm-wasm-mt.wasm', 'lm-wasm-mt.worker.js'];
for (const f of DIST.map((name) => `dist/${name}`))
  if (!existsSync(join(root, f))) {
    console.error(`build-site: ${f} is missing; build the WebAssembly module first (scripts/build.sh wasm)`);
    process.exit(1);
  }

// Replace everything but the models folder (which may hold links to model files).
mkdirSync(out, { recursive: true });
for (const entry of readdirSync(out)) if (entry !== 'models') rmSync(join(out, entry), { recursive: true, force: true });

cpSync(join(root, 'web/app'), out, { recursive: true });
mkdirSync(join(out, 'lm-wasm/dist'), { recursive: true });
cpSync(join(root, 'web/lib'), join(out, 'lm-wasm/web/lib'), {
  recursive: true,
  filter: (src) => !/(node|node-platform|node-worker|cli)\.js$|\.d\.ts$/.test(src),
});
for (const f of DIST) cpSync(join(root, 'dist', f), join(out, 'lm-wasm/dist', f));
console.log(`site written to ${out}`);
