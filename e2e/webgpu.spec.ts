import { expect, test } from '@playwright/test';
import type { WebGpuProbe } from './webgpu-probe';

/**
 * The engine's WebGPU code in Chromium's WebGPU (SwiftShader here), through the dev server so
 * that engine modules can be imported into the page.
 */
test('WebGPU: tokens chosen on the device match cpu, and each fused kernel matches tfjs ops in value and gradients (read back with await)', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('http://localhost:5173/');
  const probe = await page.evaluate(async () => {
    const m = (await import('/e2e/webgpu-probe.ts' as string)) as { probeWebGpu(): Promise<WebGpuProbe> };
    return m.probeWebGpu();
  });
  expect(probe.backend).toBe('webgpu');
  expect(probe.tokens.webgpu).toEqual(probe.tokens.cpu);
  expect(probe.tokens.webgpu.flat().some((id) => id !== 0)).toBe(true);
  expect(probe.unregistered).toEqual([]);
  expect(probe.sampleTokens.mismatches).toBe(0);
  expect(probe.sampleTokens.dtype).toBe('int32');
  // 204 running rows over 70 tokens: a kernel that picked one token for all would give 1.
  expect(probe.sampleTokens.distinct).toBeGreaterThan(20);
  // Layer norm's gradients divide by a row's standard deviation, which magnifies rounding.
  const tolerances = { layerNorm: 1e-4, maskedSoftmax: 1e-5, biasGelu: 1e-5, attention: 1e-5, tokenStats: 1e-5, decodeAttention: 1e-5, adamW: 1e-6, decodeLinear: 1e-5 };
  for (const [op, differences] of Object.entries(probe.fused)) {
    differences.forEach((d, i) => expect(d, `${op} difference ${i}`).toBeLessThan(tolerances[op as keyof typeof tolerances]));
  }
  const worst = Object.entries(probe.fused).map(([op, d]) => `${op} ${d.map((x) => x.toExponential(1)).join('/')}`).join(', ');
  const note = `synchronous readback: ${probe.syncReadback ?? 'works'}; fused vs ops, largest differences (value/gradients): ${worst}; token choice: ${probe.sampleTokens.mismatches} of 256 rows differ`;
  test.info().annotations.push({ type: 'webgpu', description: note });
  console.log(note);
});
