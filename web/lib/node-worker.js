// Node worker_threads entry (loadModel(..., { worker: true }) in Node).
// Protocol: worker-core.js.
import { parentPort } from 'node:worker_threads';
import { nodePlatform } from './node-platform.js';
import { serveEngine } from './worker-core.js';

serveEngine(
  nodePlatform,
  (msg) => parentPort.postMessage(msg),
  (handler) => parentPort.on('message', handler),
);
