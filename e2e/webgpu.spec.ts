import { expect, test } from '@playwright/test';
import type { WebGpuProbe } from './webgpu-probe';

/**
 * The engine's WebGPU code in Chromium's WebGPU (SwiftShader here), through the dev server so
 * that engine modules can be imported into the page.
 */
test('WebGPU: tokens chosen on the device match cpu, and the fused layer norm matches tfjs ops (read back with await)', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('http://localhost:5173/');
  const probe = await page.evaluate(async () => {
    const m = (await import('/e2e/webgpu-probe.ts' as string)) as { probeWebGpu(): Promise<WebGpuProbe> };
    return m.probeWebGpu();
  });
  expect(probe.backend).toBe('webgpu');
  expect(probe.tokens.webgpu).toEqual(probe.tokens.cpu);
  expect(probe.tokens.webgpu.flat().some((id) => id !== 0)).toBe(true);
  probe.layerNorm.forEach((d, i) => expect(d, `layer norm difference ${i}`).toBeLessThan(1e-4));
  const note = `synchronous readback: ${probe.syncReadback ?? 'works'}`;
  test.info().annotations.push({ type: 'webgpu', description: note });
  console.log(note);
});
