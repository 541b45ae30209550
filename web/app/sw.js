// Service worker: keeps the page itself (not the model files, which the
// lm-wasm cache handles) available offline. Network first, so a deployed
// update is picked up at once; the cached copy is used only when offline.
const SHELL = 'lm-wasm-page-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const isShell =
    event.request.method === 'GET' &&
    url.origin === self.location.origin &&
    !url.pathname.includes('/models/') &&
    !url.pathname.endsWith('.safetensors');
  if (!isShell) return;
  // One entry per path: a permalink's query string does not change the file,
  // and keying by it would keep a copy per story link opened, forever (and an
  // offline match ignoring the query could return an outdated one).
  const key = url.origin + url.pathname;
  event.respondWith(
    (async () => {
      const cache = await caches.open(SHELL);
      try {
        const response = await fetch(event.request);
        if (response.ok) cache.put(key, response.clone());
        return response;
      } catch (e) {
        const cached = await cache.match(key);
        if (cached) return cached;
        throw e;
      }
    })(),
  );
});
