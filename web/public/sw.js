// scenecraft's service worker: the app shell is cached so the studio opens offline, and what the
// gallery last showed (asset lists, versions, images, /v1/me) is kept so the gallery works offline.
// API data: network first, the cache when offline. Hashed bundles (/assets/*): cache first.
// Writes (POST, DELETE, ...) and live streams (SSE) always go to the network.

const SHELL = 'scenecraft-shell-v1';
const DATA = 'scenecraft-data';
const SHELL_FILES = ['/', '/index.html', '/manifest.webmanifest', '/icon.svg', '/icon-192.png'];
const CACHED_API = [/^\/v1\/me$/, /^\/v1\/assets$/, /^\/v1\/assets\/[0-9a-f]{32}(\/versions(\/\d+\/content)?)?$/];

// The shell is index.html, the files it names under /assets/ (hashed by the build) and the icons.
async function cacheShell() {
  const cache = await caches.open(SHELL);
  const html = await (await fetch('/index.html', { cache: 'no-cache' })).text();
  const bundles = [...html.matchAll(/\/assets\/[^"']+/g)].map((m) => m[0]);
  await cache.addAll([...SHELL_FILES, ...new Set(bundles)]);
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== SHELL && n !== DATA).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.headers.get('accept') === 'text/event-stream' || url.pathname.endsWith('/events')) return;
  if (request.mode === 'navigate') {
    event.respondWith(networkFirst(new Request('/'), SHELL));
  } else if (url.pathname.startsWith('/assets/')) {
    event.respondWith(cacheFirst(request));
  } else if (CACHED_API.some((re) => re.test(url.pathname))) {
    event.respondWith(networkFirst(request, DATA));
  } else if (SHELL_FILES.includes(url.pathname)) {
    event.respondWith(networkFirst(request, SHELL));
  }
});
