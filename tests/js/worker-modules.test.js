// Workers share compiled WebAssembly: the first worker compiles lm-wasm.wasm
// and hands the WebAssembly.Module back ('compiled' in worker-core.js); every
// later worker of the same page (or process) instantiates that module instead
// of compiling the bytes again, so it starts with code V8 has already
// optimised. Checked on real worker threads, watching the protocol messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { WorkerClient } from '../../web/lib/worker-client.js';
import { STORY_DIR } from './support.js';

/** A WorkerClient port over node-worker.js that records every message both ways. */
function recordingPort() {
  const worker = new Worker(new URL('../../web/lib/node-worker.js', import.meta.url));
  const sent = [];
  const received = [];
  return {
    sent,
    received,
    port: {
      post: (msg) => {
        sent.push(msg);
        worker.postMessage(msg);
      },
      terminate: () => worker.terminate(),
      onMessage: (fn) =>
        worker.on('message', (msg) => {
          received.push(msg);
          fn(msg);
        }),
      onError: (fn) => worker.on('error', (e) => fn(e.message)),
    },
  };
}

const LOAD = { weights: 'auto', threads: 1, autoThreads: 1, cache: false };
const GREEDY = { temperature: 0, maxTokens: 24, seed: 1 };

async function storyIn(p) {
  const client = new WorkerClient(p.port);
  try {
    await client.load(STORY_DIR, LOAD);
    return (await client.generate('Once upon a time', GREEDY, { onChunks: () => {} })).text;
  } finally {
    await client.dispose();
  }
}

test('the first worker compiles the .wasm and hands the module on; the next one reuses it', async () => {
  const first = recordingPort();
  const text = await storyIn(first);
  const loadSent = first.sent.find((m) => m.type === 'load');
  assert.deepEqual(loadSent.options.modules, {}, 'nothing to share yet');
  const compiled = first.received.filter((m) => m.type === 'compiled');
  assert.equal(compiled.length, 1, 'the first worker reports the module it compiled');
  assert.ok(compiled[0].module instanceof WebAssembly.Module, 'a WebAssembly.Module crosses to the client');
  assert.match(compiled[0].url, /lm-wasm\.wasm$/);

  const second = recordingPort();
  assert.equal(await storyIn(second), text, 'the shared module writes the same story');
  const shared = second.sent.find((m) => m.type === 'load').options.modules;
  assert.deepEqual(Object.keys(shared), [compiled[0].url], 'the second worker is given the compiled module');
  assert.ok(shared[compiled[0].url] instanceof WebAssembly.Module);
  assert.equal(second.received.filter((m) => m.type === 'compiled').length, 0, 'the second worker compiles nothing');
});
