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
    // Pre-bundled like every dependency: tfjs-backend-wasm ships a CommonJS worker file that only
    // pre-bundling turns into ESM. The .wasm files are found through setWasmPaths with `?url`
    // imports (workers/backend.ts), so where the JS ends up does not matter. Listed up front so
    // that the first page load does not trigger a re-optimisation and a reload.
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'comlink',
      'recharts',
      'zustand',
      'zod',
    ],
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
