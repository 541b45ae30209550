// loadModel(), shared by the browser entry (index.js) and the Node entry (node.js).
import { toLmError, abortError } from './errors.js';
import { LmModel } from './model.js';
import { normalizeLoadOptions } from './options.js';
import { WorkerClient } from './worker-client.js';

/**
 * env: { platform, createEngine({ wasmUrl }): Promise<Engine>, workerPort(workerUrl): port,
 *        autoThreads(): number (threads "auto" may use), workerByDefault: boolean,
 *        cacheByDefault: boolean, resolveSource?(source) }
 */
export function makeLoadModel(env) {
  return async function loadModel(source, options = {}) {
    const o = normalizeLoadOptions(options);
    if (env.resolveSource) source = env.resolveSource(source);
    if (o.signal?.aborted) throw abortError(o.signal);
    const useWorker = (o.worker ?? env.workerByDefault) && !o.fetch;
    const wasmUrl = o.wasmUrl === undefined ? undefined : String(o.wasmUrl);
    const threads = o.threads ?? 'auto';
    const autoThreads = env.autoThreads();
    const backend = useWorker
      ? new WorkerClient(env.workerPort(o.workerUrl))
      : await env.createEngine({ wasmUrl, threads, autoThreads });
    const loadOptions = {
      onProgress: o.onProgress,
      signal: o.signal,
      weights: o.weights ?? 'auto',
      contextLength: o.contextLength,
      revision: o.revision,
      cache: o.cache ?? env.cacheByDefault ?? false,
      wasmUrl,
      memoryBudget: o.memoryBudget,
      threads,
      autoThreads,
      ...(o.fetch ? { fetchFn: o.fetch } : {}),
    };
    let info;
    try {
      info = await backend.load(source, loadOptions);
    } catch (e) {
      await Promise.resolve(backend.dispose()).catch(() => {});
      throw toLmError(e);
    }
    return new LmModel(backend, info);
  };
}
