/**
 * Loaded into a page of the dev server (`import('/e2e/webgpu-probe.ts')`) by webgpu.spec.ts: runs
 * the engine's own WebGPU code on Chromium's adapter and reads every result back with await,
 * which works there even where synchronous readback does not (workers/sync-readback.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../workers/backend';
import { fusedLayerNorm, layerNormOps } from '../src/engine/fused/layer-norm';
import { GPT } from '../src/engine/model';
import { modelSize } from '../src/engine/model-config';
import { Rng } from '../src/engine/rng';
import { runAsync } from '../src/engine/readback';
import { generateSteps } from '../src/engine/sampling';
import { Tokenizer } from '../src/engine/tokenizer';
import { checkSyncReadback } from '../workers/sync-readback';

export interface WebGpuProbe {
  backend: string;
  /** Why synchronous readback was refused, or null when it works. */
  syncReadback: string | null;
  /** Completions, tokens chosen on the device, on webgpu and on cpu from the same seed. */
  tokens: { webgpu: number[][]; cpu: number[][] };
  /** Largest differences between the fused layer norm and the tfjs ops: value, then d/dx, d/dgain, d/dbias. */
  layerNorm: number[];
}

async function sampledTokens(backend: string): Promise<number[][]> {
  await tf.setBackend(backend);
  const tok = new Tokenizer();
  const model = GPT.create(modelSize('test', tok.size), 1);
  const prompts = ['12+3=', '7+8=', '45+6='].map((s) => tok.encode(s));
  // Twelve tokens: one stop check (every 8) happens on the way, read back with await too.
  const gen = await runAsync(generateSteps(model.params, model.config, prompts, {
    maxNewTokens: 12, temperature: 1, topK: 0, topP: 1, stopIds: [tok.eosId, tok.id('5')], padId: tok.padId, tokenChoice: 'device',
  }, new Rng(1)));
  model.dispose();
  return gen.completions;
}

async function worstDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = [Array.from(await a.data()), Array.from(await b.data())];
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - (y[i] as number))), 0);
}

async function layerNormDifferences(): Promise<number[]> {
  const x = tf.randomNormal([7, 5, 48], 0.3, 2, 'float32', 1);
  const g = tf.randomNormal([48], 1, 0.2, 'float32', 2);
  const b = tf.randomNormal([48], 0, 0.2, 'float32', 3);
  const w = tf.randomNormal([7, 5, 48], 0, 1, 'float32', 4);
  const grads = (f: typeof layerNormOps) => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), w)))([x, g, b]);
  const [fused, ops] = [grads(fusedLayerNorm), grads(layerNormOps)];
  const out = [await worstDifference(fusedLayerNorm(x, g, b), layerNormOps(x, g, b))];
  for (let k = 0; k < 3; k++) out.push(await worstDifference(fused[k] as tf.Tensor, ops[k] as tf.Tensor));
  return out;
}

export async function probeWebGpu(): Promise<WebGpuProbe> {
  const cpu = await sampledTokens('cpu');
  const webgpu = await sampledTokens('webgpu');
  const backend = tf.getBackend();
  const layerNorm = await layerNormDifferences();
  // Last: where the synchronous path fails, it can take the device down with it.
  let syncReadback: string | null = null;
  await checkSyncReadback().catch((e: unknown) => { syncReadback = (e as Error).message; });
  return { backend, syncReadback, tokens: { webgpu, cpu }, layerNorm };
}
