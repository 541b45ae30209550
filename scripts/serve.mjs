#!/usr/bin/env node
// A small static file server for the site (no dependencies): correct MIME
// types (.mjs, .wasm), ETag / Last-Modified with 304s, 127.0.0.1 only.
//   node scripts/serve.mjs [dir] [--port N] [--isolate]
// --isolate adds Cross-Origin-Opener-Policy / -Embedder-Policy, which make
// the page cross-origin isolated (SharedArrayBuffer, threads). --csp sends the
// strict Content-Security-Policy the page is built to work under (README).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { CSP } from './csp.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--port') ?? 'build/site');
const port = Number(option('--port', process.env.PORT ?? 8080));
const isolate = flag('--isolate');
const csp = flag('--csp');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

function resolvePath(urlPath) {
  let path = decodeURIComponent(urlPath.split('?')[0]);
  if (path.endsWith('/')) path += 'index.html';
  const file = normalize(join(root, path));
  return file === root || file.startsWith(root + sep) ? file : null;
}

const server = createServer((req, res) => {
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  if (csp) headers['content-security-policy'] = CSP;
  if (isolate) {
    headers['cross-origin-opener-policy'] = 'same-origin';
    headers['cross-origin-embedder-policy'] = 'require-corp';
    headers['cross-origin-resource-policy'] = 'same-origin';
  }
  let file;
  let stat;
  try {
    file = resolvePath(new URL(req.url, 'http://localhost').pathname);
    stat = file && statSync(file);
    if (stat?.isDirectory()) {
      res.writeHead(301, { location: `${req.url.split('?')[0]}/` });
      return res.end();
    }
  } catch {
    stat = null;
  }
  if (!stat || !stat.isFile() || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(stat ? 405 : 404, { ...headers, 'content-type': 'text/plain' });
    return res.end(stat ? 'method not allowed' : 'not found');
  }
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  Object.assign(headers, {
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
  });
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    return res.end();
  }
  res.writeHead(200, { ...headers, 'content-length': stat.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
});

server.on('error', (e) => {
  console.error(`serve: ${e.code === 'EADDRINUSE' ? `port ${port} is in use; set PORT or --port` : e.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`lm-wasm: serving ${root}${isolate ? ' (cross-origin isolated)' : ''}${csp ? ' with a strict CSP' : ''}`);
  console.log(`open http://127.0.0.1:${server.address().port}/`);
});
