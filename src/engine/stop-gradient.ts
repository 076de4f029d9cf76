import * as tf from '@tensorflow/tfjs-core';

/**
 * Identity forward, zero gradient backward. tfjs-core has no stopGradient; customGrad gives
 * one that works on every backend. Metrics are computed from a detached logp so that they can
 * never feed a gradient, even if a caller folds one into a differentiated expression.
 */
export const stopGradient = tf.customGrad((...inputs) => {
  const x = inputs[0] as tf.Tensor;
  return { value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as <T extends tf.Tensor>(x: T) => T;
