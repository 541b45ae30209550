#!/usr/bin/env node
// Usage: node patch-esm-glue.mjs <glue.mjs> <EXPORT_NAME>
// Emscripten 3.1.6 EXPORT_ES6 glue uses CommonJS `require`/`__dirname` on its Node code path; neither exists in
// an ES module. Insert, at the top of the factory function, local definitions of both. Runs after closure, so it
// works with --closure 1 too (a --pre-js `var __dirname` clashes with closure's Node externs).
import { readFileSync, writeFileSync } from 'node:fs';
const [file, name] = process.argv.slice(2);
const src = readFileSync(file, 'utf8');
if (src.includes('--- lm-wasm: require/__dirname')) { console.log(`patch-esm-glue: ${file} already patched`); process.exit(0); }
const anchor = `\n  ${name} = ${name} || {};\n`;
const parts = src.split(anchor);
if (parts.length !== 2) { console.error(`patch-esm-glue: expected exactly one "${anchor.trim()}" in ${file}, found ${parts.length - 1}`); process.exit(1); }
const shim = `
  // --- lm-wasm: require/__dirname for the Node path of an ES module (see patch-esm-glue.mjs) ---
  var lmNodeBuiltin = (typeof process == 'object' && typeof process.getBuiltinModule == 'function')
    ? (n) => process.getBuiltinModule(n) : null;
  var require = ${name}.nodeRequire || globalThis.require ||
    (lmNodeBuiltin ? lmNodeBuiltin('module').createRequire(_scriptDir) : undefined);
  var __dirname = ${name}.nodeDirname ||
    (lmNodeBuiltin ? lmNodeBuiltin('path').dirname(lmNodeBuiltin('url').fileURLToPath(_scriptDir)) : '');
  // --- end lm-wasm ---
`;
writeFileSync(file, parts[0] + anchor + shim + parts[1]);
console.log(`patch-esm-glue: patched ${file}`);
