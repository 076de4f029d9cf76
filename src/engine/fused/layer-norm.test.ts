import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { LAYER_NORM_KERNEL, fusedLayerNorm, layerNorm, layerNormOps } from './layer-norm';

/** A plain JavaScript version of the fused kernel for the cpu backend, so its gradient can be checked here. */
function registerCpuKernel(): void {
  tf.registerKernel({
    kernelName: LAYER_NORM_KERNEL,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, gain, bias } = inputs as Record<string, tf.TensorInfo>;
      const read = (t: tf.TensorInfo) => (backend as unknown as { readSync(id: object): Float32Array }).readSync(t.dataId);
      const [xs, g, b] = [read(x!), read(gain!), read(bias!)];
      const width = x!.shape.at(-1) as number;
      const out = new Float32Array(xs.length);
      for (let base = 0; base < xs.length; base += width) {
        let mean = 0;
        for (let j = 0; j < width; j++) mean += xs[base + j]!;
        mean /= width;
        let variance = 0;
        for (let j = 0; j < width; j++) variance += (xs[base + j]! - mean) ** 2;
        const rstd = 1 / Math.sqrt(variance / width + (attrs as { eps: number }).eps);
        for (let j = 0; j < width; j++) out[base + j] = (xs[base + j]! - mean) * rstd * g[j]! + b[j]!;
      }
      return (backend as unknown as { makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo }).makeTensorInfo(x!.shape, 'float32', out);
    },
  });
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('fused layer norm', () => {
  const x = () => tf.randomNormal([3, 5, 16], 0.5, 2, 'float32', 7);
  const gain = () => tf.randomNormal([16], 1, 0.3, 'float32', 8);
  const bias = () => tf.randomNormal([16], 0, 0.3, 'float32', 9);
  const weights = () => tf.randomNormal([3, 5, 16], 0, 1, 'float32', 10);

  test('without a registered kernel, layerNorm is the composite ops: rows with mean 0 and variance 1 before gain and bias', () => {
    const y = tf.tidy(() => layerNorm(x(), tf.ones([16]), tf.zeros([16])));
    const { mean, variance } = tf.moments(y, -1);
    expect(Math.max(...(mean.abs().dataSync() as Float32Array))).toBeLessThan(1e-5);
    expect(Math.max(...(variance.sub(1).abs().dataSync() as Float32Array))).toBeLessThan(1e-3);
    tf.dispose([y, mean, variance]);
  });

  test('the fused kernel gives the composite values and, through its own backward pass, the same gradients', () => {
    registerCpuKernel();
    try {
      const [xs, g, b, w] = [x(), gain(), bias(), weights()];
      // A weighted sum makes every output's gradient different, so a wrong term would show.
      const grads = (f: typeof layerNormOps) => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), w)))([xs, g, b]);
      const fused = grads(fusedLayerNorm);
      const ops = grads(layerNormOps);
      const close = (a: tf.Tensor, c: tf.Tensor) => Math.max(...(a.sub(c).abs().dataSync() as Float32Array));
      expect(close(fusedLayerNorm(xs, g, b), layerNormOps(xs, g, b))).toBeLessThan(1e-5);
      fused.forEach((f, i) => expect(close(f, ops[i] as tf.Tensor), `gradient ${i}`).toBeLessThan(1e-4));
      // layerNorm picks the kernel once the backend has it.
      expect(tf.getKernel(LAYER_NORM_KERNEL, 'cpu')).toBeDefined();
      expect(close(layerNorm(xs, g, b), layerNormOps(xs, g, b))).toBeLessThan(1e-5);
    } finally {
      tf.unregisterKernel(LAYER_NORM_KERNEL, 'cpu');
    }
  });
});
