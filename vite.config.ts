import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Cross-origin isolation (COOP + COEP) makes SharedArrayBuffer and precise timers available to
 * the trainer worker. Same headers in dev and preview so that what the e2e tests see is what
 * `npm run dev` gives.
 */
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react()],
  worker: {
    // workers/trainer.worker.ts is an ES module worker (new Worker(url, { type: 'module' })).
    format: 'es',
  },
  optimizeDeps: {
    // tfjs-backend-wasm loads its .wasm files at run time (setWasmPaths with `?url` imports);
    // pre-bundling it would separate the JS from those files.
    exclude: ['@tensorflow/tfjs-backend-wasm'],
  },
  server: {
    headers: crossOriginIsolation,
  },
  preview: {
    headers: crossOriginIsolation,
  },
  build: {
    target: 'es2022',
  },
});
