/**
 * The device loop's token choice (sample-tokens.ts) for tfjs's webgpu backend: one thread per
 * row, which walks its row of logits three times (maximum, total weight, pick). A row is the
 * vocabulary, 70 tokens here, so a thread's walk is short. Importing this module registers it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { SAMPLE_TOKENS_KERNEL } from './sample-tokens';
import { fusedOutputDtype } from './kernels';
import { registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(SAMPLE_TOKENS_KERNEL, 'grpoSampleTokens', (inputs, attrs) => {
  const { logits, draws, done } = inputs as { logits: tf.TensorInfo; draws: tf.TensorInfo; done: tf.TensorInfo };
  const [B, V] = logits.shape as [number, number];
  const { temperature, padId, step } = attrs as { temperature: number; padId: number; step: number };
  return {
    // done is bool, which tfjs binds as i32.
    inputs: [['logits', logits], ['draws', draws], ['done', done]],
    outputShape: [B],
    outputDtype: fusedOutputDtype(SAMPLE_TOKENS_KERNEL),
    threads: B,
    // This step's draws start at row `step` of [steps, B]: a uniform, so one pipeline serves every step.
    uniforms: [['vocab', 'i32', V], ['temperature', 'f32', temperature], ['padId', 'f32', padId], ['drawOffset', 'i32', step * B]],
    body: `
      if (done[index] != 0) {
        setOutputAtIndex(index, uniforms.padId);
        return;
      }
      let V = uniforms.vocab;
      let base = index * V;
      var top = logits[base];
      for (var j = 1; j < V; j++) { top = max(top, logits[base + j]); }
      var total = 0.0;
      for (var j = 0; j < V; j++) { total += exp((logits[base + j] - top) / uniforms.temperature); }
      var rest = draws[uniforms.drawOffset + index] * total;
      var last = 0;
      var pick = -1;
      for (var j = 0; j < V; j++) {
        let w = exp((logits[base + j] - top) / uniforms.temperature);
        if (w > 0.0) { last = j; }
        rest -= w;
        if (pick < 0 && rest < 0.0) { pick = j; }
      }
      if (pick < 0) { pick = last; }
      setOutputAtIndex(index, f32(pick));`,
  };
});
