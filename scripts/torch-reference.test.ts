import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { MODEL_SIZES } from '../src/engine/model-config';
import { QUICK_SHAPES } from '../src/bench/shapes';

/** The module reads BENCH_PYTHON when loaded: a fresh copy for each interpreter. */
async function load(python: string) {
  vi.stubEnv('BENCH_PYTHON', python);
  vi.resetModules();
  return import('./torch-reference');
}

const model = { ...MODEL_SIZES.test, vocabSize: 20 };
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('startTorchUpdateServer', () => {
  test('says why when the interpreter cannot start, and starts nothing', async () => {
    const { startTorchUpdateServer } = await load('/nonexistent/python3');
    const server = await startTorchUpdateServer(model, QUICK_SHAPES);
    expect(server).toEqual({ unavailable: expect.stringContaining('/nonexistent/python3 could not start') });
  });

  test('says why when the script fails (an interpreter without it)', async () => {
    // /bin/false stands in for a Python that exits at once with an error.
    const { startTorchUpdateServer } = await load('/bin/false');
    const server = await startTorchUpdateServer(model, QUICK_SHAPES);
    expect(server).toEqual({ unavailable: '/bin/false bench/reference_torch.py failed: exit status 1, no message' });
  });

  test.skipIf(!hasTorch)('times one update per request, in the Python process', async () => {
    const { startTorchUpdateServer } = await load('/usr/bin/python3');
    const server = await startTorchUpdateServer(model, QUICK_SHAPES);
    if ('unavailable' in server) throw new Error(server.unavailable);
    try {
      const times = [await server.timeUpdate(), await server.timeUpdate()];
      for (const ms of times) expect(ms).toBeGreaterThan(0);
      expect(server.setup.torch).toMatch(/^\d+\.\d+/);
    } finally {
      server.close();
    }
  });
});
