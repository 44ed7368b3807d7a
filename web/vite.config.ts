import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run build` writes web/dist, which `scenecraft serve` serves at `/` (src/scenecraft/api/studio.py).
// `npm run dev` proxies the API to a `scenecraft serve` on :8000.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, modulePreload: { polyfill: false } },
  server: { proxy: { '/v1': 'http://127.0.0.1:8000', '/healthz': 'http://127.0.0.1:8000' } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
