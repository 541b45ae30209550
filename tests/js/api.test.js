// The lm-wasm JS API in Node: every kind of source, progress, streaming,
// abort at each stage, errors, and the worker-thread engine.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  loadModel,
  InvalidOptionError,
  ModelLoadError,
  UnsupportedModelError,
  ContextOverflowError,
  StateError,
  LmError,
  ResourceLimitError,
} from '../../web/lib/node.js';
import {
  STORY_DIR,
  golden,
  startServer,
  successorModel,
  writeModelDir,
  readSafetensors,
  safetensorsBytes,
  isWellFormedUtf16,
  tempDir,
} from './support.js';

const greedy = golden('story-greedy.json');
const storyFile = (name) => readFileSync(join(STORY_DIR, name));
// Every file a load reads: generation_config.json and tokenizer_config.json are optional; the story model has both.
const STORY_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
const sizeOfStory = STORY_FILES.reduce((s, f) => s + storyFile(f).length, 0);

async function collect(generation) {
  const chunks = [];
  for await (const c of generation) chunks.push(c);
  return { chunks, result: await generation };
}

async function rejectsWith(promise, Class, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Class, `expected ${Class.name}, got ${e?.name}: ${e?.message}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), `one-line message: ${e.message}`);
    return true;
  });
}

const server = await startServer(STORY_DIR, {
  routes: {
    '/html/config.json': (_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(storyFile('config.json')),
    '/html/tokenizer.json': (_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(storyFile('tokenizer.json')),
    '/html/model.safetensors': (_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><p>Sign in</p>'),
  },
});
const slowServer = await startServer(STORY_DIR, { chunkDelayMs: 50 });
after(() => Promise.all([server.close(), slowServer.close()]));

for (const worker of [false, true]) {
  describe(worker ? 'engine in a worker thread' : 'engine in process', () => {
    let model;
    test('loads a directory; greedy generation equals the reference, streamed and final', async () => {
      model = await loadModel(STORY_DIR, { worker });
      assert.equal(model.info.parameters, 656000);
      assert.equal(model.info.simd, 'wasm-simd128');
      for (const c of greedy.cases) {
        const { chunks, result } = await collect(model.generate(c.prompt, { temperature: 0, maxTokens: 64 }));
        assert.deepEqual(result.ids, c.generated_ids, c.name);
        assert.deepEqual(chunks.map((x) => x.id), c.generated_ids);
        assert.equal(chunks.map((x) => x.text).join(''), result.text);
        assert.equal(result.text, c.continuation_text);
        assert.equal(result.reason, c.stopped_at_eos ? 'eos' : 'max_tokens');
        assert.deepEqual(result.promptIds, c.prompt_ids);
        const s = result.stats;
        assert.equal(s.promptTokens, c.prompt_ids.length);
        assert.equal(s.generatedTokens, c.generated_ids.length);
        for (const k of ['loadMs', 'prefillMs', 'timeToFirstTokenMs', 'prefillTokensPerS', 'decodeTokensPerS'])
          assert.ok(Number.isFinite(s[k]) && s[k] >= 0, `${k} = ${s[k]}`);
      }
    });

    test('abort mid-generation stops within one token and the next generate works', async () => {
      const controller = new AbortController();
      const seen = [];
      await assert.rejects(
        (async () => {
          for await (const c of model.generate('Once upon a time', { maxTokens: 400, ignoreEos: true, signal: controller.signal })) {
            seen.push(c);
            if (seen.length === 3) controller.abort();
          }
        })(),
        (e) => e.name === 'AbortError',
      );
      assert.equal(seen.length, 3, 'no chunk after abort');
      const again = await model.generate('Once upon a time', { temperature: 0, maxTokens: 64 });
      assert.deepEqual(again.ids, greedy.cases[0].generated_ids);
      // Aborted before it starts, and leaving a loop early, both leave the model usable.
      await assert.rejects(model.generate('x', { signal: AbortSignal.abort() }).result, (e) => e.name === 'AbortError');
      for await (const c of model.generate('Once upon a time', { maxTokens: 50 })) if (c) break;
      assert.deepEqual((await model.generate('Once upon a time', { temperature: 0, maxTokens: 64 })).ids, greedy.cases[0].generated_ids);
    });

    test('topLogprobs, stop strings, seeds, token ids as prompt', async () => {
      const { chunks } = await collect(model.generate('Once upon a time', { temperature: 0, maxTokens: 10, topLogprobs: 5 }));
      for (const c of chunks) {
        assert.equal(c.top.length, 5);
        assert.equal(c.top[0].id, c.id, 'greedy picks the most likely token');
        assert.ok(c.logprob <= 0 && Math.abs(c.logprob - c.top[0].logprob) < 1e-6);
        for (let i = 1; i < 5; i++) assert.ok(c.top[i].logprob <= c.top[i - 1].logprob);
        assert.equal(typeof c.top[0].text, 'string');
      }
      const stopped = await model.generate('Once upon a time', { temperature: 0, maxTokens: 64, stop: ['Spot'] });
      assert.equal(stopped.reason, 'stop');
      assert.equal(stopped.text, greedy.cases[0].continuation_text.split('Spot')[0]);
      const a = await model.generate('Once upon a time', { seed: 99, maxTokens: 40 });
      const b = await model.generate('Once upon a time', { seed: 99, maxTokens: 40 });
      assert.deepEqual(a.ids, b.ids);
      const fromIds = await model.generate(greedy.cases[0].prompt_ids, { temperature: 0, maxTokens: 64 });
      assert.deepEqual(fromIds.ids, greedy.cases[0].generated_ids);
    });

    test('tokenize, detokenize, invalid options, over-long prompts', async () => {
      assert.deepEqual(await model.tokenize('Once upon a time'), [1, 80, 147, 201, 282, 57]);
      assert.deepEqual(await model.tokenize('Once upon a time', { addSpecialTokens: false }), [80, 147, 201, 282, 57]);
      assert.equal(await model.detokenize([1, 80, 147, 201, 282, 57]), 'Once upon a time');
      await rejectsWith(model.generate('x', { temperature: -0.5 }).result, InvalidOptionError, /temperature/);
      await rejectsWith(model.generate('x', { topP: 0 }).result, InvalidOptionError, /topP/);
      await rejectsWith(model.generate('x', { topK: -1 }).result, InvalidOptionError, /topK/);
      await rejectsWith(model.generate('x', { temperature: NaN }).result, InvalidOptionError, /temperature/);
      await rejectsWith(model.generate('x', { maxTokens: 1.5 }).result, InvalidOptionError, /maxTokens/);
      await rejectsWith(model.generate('x', { seed: -1 }).result, InvalidOptionError, /seed/);
      await rejectsWith(model.generate('x', { stopp: [] }).result, InvalidOptionError, /stopp/);
      await rejectsWith(model.detokenize([5, 99999]), InvalidOptionError, /99999/);
      await rejectsWith(model.generate('Once upon a time '.repeat(200)).result, ContextOverflowError, /context holds 512/);
      const kept = await model.generate('Once upon a time '.repeat(200), { truncatePrompt: true, maxTokens: 8 });
      assert.equal(kept.ids.length, 8);
    });

    test('two generate calls at once on one model run one after the other', async () => {
      const [x, y] = await Promise.all([
        model.generate('Once upon a time', { temperature: 0, maxTokens: 64 }),
        model.generate('Lily and Ben', { temperature: 0, maxTokens: 64 }),
      ]);
      assert.deepEqual(x.ids, greedy.cases[0].generated_ids);
      assert.deepEqual(y.ids, greedy.cases[1].generated_ids);
    });

    test('separate sessions of one model run correctly side by side', async () => {
      const a = await model.createSession({ contextLength: 128 });
      const b = await model.createSession();
      assert.equal(a.contextLength, 128);
      assert.equal(b.contextLength, 512);
      const [x, y, z] = await Promise.all([
        a.generate(greedy.cases[0].prompt, { temperature: 0, maxTokens: 64 }),
        b.generate(greedy.cases[1].prompt, { temperature: 0, maxTokens: 64 }),
        model.generate(greedy.cases[2].prompt, { temperature: 0, maxTokens: 64 }),
      ]);
      assert.deepEqual(x.ids, greedy.cases[0].generated_ids);
      assert.deepEqual(y.ids, greedy.cases[1].generated_ids);
      assert.deepEqual(z.ids, greedy.cases[2].generated_ids);
      await a.dispose();
      await rejectsWith(a.generate('x').result, StateError, /disposed/);
      await b.dispose();
    });

    test('dispose frees the model; later calls fail clearly', async () => {
      await model.dispose();
      await rejectsWith(model.generate('x').result, StateError, /disposed/);
      await rejectsWith(model.tokenize('x'), StateError, /disposed/);
    });
  });
}

describe('sources', () => {
  test('a base URL, with byte progress across all files', async () => {
    const events = [];
    const model = await loadModel(`${server.url}/`, { onProgress: (p) => events.push(p) });
    const last = events.at(-1);
    assert.equal(last.loaded, sizeOfStory);
    assert.equal(last.total, sizeOfStory);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].loaded >= events[i - 1].loaded);
    assert.ok(events.some((e) => e.file === 'model.safetensors'));
    assert.deepEqual((await model.generate('Once upon a time', { temperature: 0, maxTokens: 64 })).ids, greedy.cases[0].generated_ids);
    await model.dispose();
  });

  test('File / Blob / ArrayBuffer objects, by name or as a list', async () => {
    const byName = await loadModel({
      'config.json': new Blob([storyFile('config.json')]),
      'tokenizer.json': storyFile('tokenizer.json').toString('utf8'),
      'model.safetensors': storyFile('model.safetensors').buffer.slice(0),
    });
    assert.deepEqual((await byName.generate('Lily and Ben', { temperature: 0, maxTokens: 64 })).ids, greedy.cases[1].generated_ids);
    await byName.dispose();
    const list = ['config.json', 'tokenizer.json', 'model.safetensors'].map((f) => new File([storyFile(f)], `story/${f}`));
    const fromList = await loadModel(list);
    assert.equal(fromList.info.vocabSize, 2048);
    await fromList.dispose();
  });

  test('a Hugging Face repo id resolves to huggingface.co/<repo>/resolve/<revision>/', async () => {
    for (const [source, revision, base] of [
      ['someone/story', undefined, 'https://huggingface.co/someone/story/resolve/main/'],
      ['someone/story@v1.0', undefined, 'https://huggingface.co/someone/story/resolve/v1.0/'],
      ['someone/story', 'abc123', 'https://huggingface.co/someone/story/resolve/abc123/'],
    ]) {
      const urls = [];
      const fetchLocal = async (url) => {
        urls.push(url);
        assert.ok(url.startsWith(base), url);
        return fetch(`${server.url}/${url.slice(base.length)}`);
      };
      const model = await loadModel(source, { fetch: fetchLocal, revision });
      assert.deepEqual(urls, STORY_FILES.map((f) => base + f));
      await model.dispose();
    }
  });

  test('sharded checkpoints through model.safetensors.index.json', async () => {
    const tensors = readSafetensors(storyFile('model.safetensors'));
    const half = Math.ceil(tensors.length / 2);
    const shard = (ts) => safetensorsBytes(ts.map((t) => ({ ...t })), { format: 'pt' });
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap = {};
    tensors.forEach((t, i) => (weightMap[t.name] = names[i < half ? 0 : 1]));
    const dir = writeModelDir({
      'config.json': storyFile('config.json'),
      'tokenizer.json': storyFile('tokenizer.json'),
      'model.safetensors.index.json': JSON.stringify({ metadata: {}, weight_map: weightMap }),
      [names[0]]: shard(tensors.slice(0, half)),
      [names[1]]: shard(tensors.slice(half)),
    });
    const model = await loadModel(dir);
    assert.deepEqual((await model.generate('Once upon a time', { temperature: 0, maxTokens: 64 })).ids, greedy.cases[0].generated_ids);
    await model.dispose();
    const shardServer = await startServer(dir);
    const overHttp = await loadModel(`${shardServer.url}/`);
    assert.deepEqual((await overHttp.generate('Lily and Ben', { temperature: 0, maxTokens: 64 })).ids, greedy.cases[1].generated_ids);
    await overHttp.dispose();
    await shardServer.close();
  });

  test('abort during the download rejects with AbortError', async () => {
    for (const worker of [false, true]) {
      const controller = new AbortController();
      const started = Date.now();
      const loading = loadModel(`${slowServer.url}/`, {
        worker,
        signal: controller.signal,
        onProgress: (p) => p.file === 'model.safetensors' && controller.abort(),
      });
      await assert.rejects(loading, (e) => e.name === 'AbortError');
      assert.ok(Date.now() - started < 5000, 'abort is prompt');
    }
  });
});

describe('malformed inputs reject with readable errors', () => {
  const variant = (name, bytes) => writeModelDir({ 'config.json': storyFile('config.json'), 'tokenizer.json': storyFile('tokenizer.json'), 'model.safetensors': storyFile('model.safetensors'), [name]: bytes });
  test('files', async () => {
    const st = storyFile('model.safetensors');
    const i64 = Buffer.from(st);
    i64.write('"I64"', i64.indexOf('"F32"'));
    await rejectsWith(loadModel(variant('model.safetensors', st.subarray(0, st.length - 100))), ModelLoadError, /model\.safetensors/);
    await rejectsWith(loadModel(variant('model.safetensors', Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"a": {"dtype": '))), ModelLoadError, /model\.safetensors/);
    await rejectsWith(loadModel(variant('model.safetensors', i64)), UnsupportedModelError, /I64/);
    await rejectsWith(loadModel(variant('config.json', '{"hidden_size": 128,')), ModelLoadError, /config\.json/);
    await rejectsWith(loadModel(variant('tokenizer.json', '{"model": {"type": "WordPiece", "vocab": {}}}')), UnsupportedModelError, /WordPiece/);
    await rejectsWith(loadModel(writeModelDir({ 'config.json': storyFile('config.json') })), ModelLoadError, /tokenizer\.json/);
  });
  test('servers', async () => {
    await rejectsWith(loadModel(`${server.url}/nowhere/`), ModelLoadError, /HTTP 404/);
    await rejectsWith(loadModel(`${server.url}/html/`), ModelLoadError, /HTML/);
    await rejectsWith(loadModel('http://127.0.0.1:1/'), ModelLoadError, /could not fetch/);
    await rejectsWith(loadModel(join(tempDir(), 'missing')), ModelLoadError, /no such directory/);
    await rejectsWith(loadModel(42), InvalidOptionError, /source/);
    await rejectsWith(loadModel(STORY_DIR, { weights: 'q4' }), InvalidOptionError, /weights/);
  });
});

test('a character whose bytes span several tokens arrives whole', async () => {
  // Byte tokens are id 3 + byte: "日é" is E6 97 A5 C3 A9 (each byte once), then "▁a" (id 262).
  const bytes = [0xe6, 0x97, 0xa5, 0xc3, 0xa9];
  const cycle = [...bytes.map((b) => 3 + b), 262];
  const dir = writeModelDir(successorModel({ cycle, vocabSize: 263 }));
  for (const worker of [false, true]) {
    const model = await loadModel(dir, { worker });
    const { chunks, result } = await collect(model.generate('a', { temperature: 0, maxTokens: 18 })); // three whole cycles
    assert.deepEqual(result.ids.slice(0, 6), cycle);
    for (const c of chunks) assert.ok(isWellFormedUtf16(c.text) && !c.text.includes('\uFFFD'), JSON.stringify(c.text));
    assert.equal(chunks.map((c) => c.text).join(''), result.text);
    assert.ok(result.text.startsWith('日é a日é a'), result.text);
    // The first characters come out whole, never one byte at a time.
    assert.ok(chunks.filter((c) => c.text !== '').every((c) => c.text.length >= 1));
    await model.dispose();
  }
});

test('errors are LmErrors with a code', async () => {
  const e = await loadModel('http://127.0.0.1:1/').catch((x) => x);
  assert.ok(e instanceof LmError);
  assert.equal(e.code, 'io');
});

test('the memory a model needs is known before its weights download, and a budget is enforced', async () => {
  const events = [];
  const model = await loadModel(STORY_DIR, { onProgress: (p) => events.push(p) });
  const firstWeights = events.find((e) => e.file === 'model.safetensors');
  assert.ok(firstWeights.memoryNeeded > 0, 'memoryNeeded is reported with the first weight bytes');
  const e = model.info.memoryEstimate;
  assert.equal(e.total, firstWeights.memoryNeeded);
  assert.equal(e.weights, storyFile('model.safetensors').length);
  assert.equal(e.kvCache, 2 * 4 * 2 * 64 * 512); // 2 layers x kv dim 64 x 512 positions, keys and values
  assert.ok(model.info.memoryBytes >= e.total, 'the estimate does not exceed what was allocated');
  await model.dispose();
  // A budget below the estimate fails before the weights are read.
  const reads = [];
  const slow = await startServer(STORY_DIR);
  const fetchLogged = (url, init) => {
    reads.push(url);
    return fetch(url, init);
  };
  await rejectsWith(loadModel(`${slow.url}/`, { memoryBudget: 1e6, fetch: fetchLogged }), ResourceLimitError, /needs about 4 MB.*memoryBudget of 1 MB/);
  await slow.close();
});
