// Web Worker entry: owns the engine, so inference never runs on the page's
// main thread. Start it with
//   new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
// (WorkerClient does). Protocol: worker-core.js.
import { browserPlatform } from './browser-platform.js';
import { serveEngine } from './worker-core.js';

serveEngine(
  browserPlatform,
  (msg) => self.postMessage(msg),
  (handler) => {
    self.onmessage = (event) => handler(event.data);
  },
);
