/**
 * The token statistics kernels (token-stats.ts) for tfjs's webgpu backend, one thread per row of
 * logits: each thread finds its row's maximum and Z = Σ exp(l − m) (V is the vocabulary, 70 here,
 * so a row is short) and then writes its log-probability, its entropy, or its row of the
 * log-probabilities' gradient. Importing this module registers them.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_LOGPROBS_KERNEL } from './token-stats';
import { type FlatKernel, registerFlatWebGpuKernel } from './webgpu-program';

/** A thread per row of logits [..., V] (bound as `logits`), with the row's start `base`, maximum `m` and `z` computed first. */
function perLogitRow(logits: tf.TensorInfo, inputs: FlatKernel['inputs'], outputShape: number[], body: string): FlatKernel {
  const V = logits.shape[logits.shape.length - 1] as number;
  return {
    inputs,
    outputShape,
    threads: logits.shape.reduce((a, b) => a * b, 1) / V,
    uniforms: [['vocab', 'i32', V]],
    body: `
      let V = uniforms.vocab;
      let base = index * V;
      var m = logits[base];
      for (var j = 1; j < V; j++) { m = max(m, logits[base + j]); }
      var z = 0.0;
      for (var j = 0; j < V; j++) { z += exp(logits[base + j] - m); }
      ${body}`,
  };
}

registerFlatWebGpuKernel(TOKEN_LOGPROBS_KERNEL, 'grpoTokenLogProbs', (inputs) => {
  const { logits, targets } = inputs as { logits: tf.TensorInfo; targets: tf.TensorInfo };
  return perLogitRow(logits, [['logits', logits], ['targets', targets]], logits.shape.slice(0, -1),
    'setOutputAtIndex(index, logits[base + i32(targets[index])] - m - log(z));');
});

registerFlatWebGpuKernel(TOKEN_LOGPROBS_GRAD_KERNEL, 'grpoTokenLogProbsGrad', (inputs) => {
  const { logits, targets, dy } = inputs as { logits: tf.TensorInfo; targets: tf.TensorInfo; dy: tf.TensorInfo };
  return perLogitRow(logits, [['logits', logits], ['targets', targets], ['upstream', dy]], logits.shape, `
      let t = i32(targets[index]);
      for (var j = 0; j < V; j++) {
        var hit = 0.0;
        if (j == t) { hit = 1.0; }
        setOutputAtIndex(base + j, upstream[index] * (hit - exp(logits[base + j] - m) / z));
      }`);
});

registerFlatWebGpuKernel(TOKEN_ENTROPY_KERNEL, 'grpoTokenEntropy', (inputs) => {
  const { logits } = inputs as { logits: tf.TensorInfo };
  return perLogitRow(logits, [['logits', logits]], logits.shape.slice(0, -1), `
      var weighted = 0.0;
      for (var j = 0; j < V; j++) { weighted += exp(logits[base + j] - m) * (logits[base + j] - m); }
      setOutputAtIndex(index, log(z) - weighted / z);`);
});
