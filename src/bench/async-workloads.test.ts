import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { getPreset } from '../engine/presets';
import { grpoLossParts } from '../engine/grpo-update';
import { GPT } from '../engine/model';
import { modelSize } from '../engine/model-config';
import { AdamW } from '../engine/optim';
import { Tokenizer } from '../engine/tokenizer';
import { accumulatedUpdate } from '../engine/train-step';
import { benchDeviceGeneration, benchUpdateArithmetic, matmulThroughput, updateWithoutReadback } from './async-workloads';
import { QUICK_SHAPES } from './shapes';
import { randomUpdateRows, updateConfig } from './workloads';

const tokenizer = new Tokenizer();
const once = { warmup: 0, repeats: 1 };

beforeAll(async () => {
  await useBackend('cpu');
});

describe('async workloads', () => {
  test('a matmul run counts 2 n^3 FLOPs per product', async () => {
    const f = await matmulThroughput(8, 3, once);
    expect(f.flopsPerSecond * (f.medianMs / 1000)).toBeCloseTo(2 * 8 ** 3 * 3, 3);
  });

  test('sampling and update run on the active backend and leave no tensor behind', async () => {
    const model = GPT.create(modelSize('test', tokenizer.size), 1);
    const before = tf.memory().numTensors;
    const generate = await benchDeviceGeneration(model, tokenizer, QUICK_SHAPES.generation, once);
    const update = await benchUpdateArithmetic(model, tokenizer, QUICK_SHAPES, updateConfig(getPreset('r1-zero').config, QUICK_SHAPES), once);
    expect(tf.memory().numTensors).toBe(before);
    expect(generate.tokensPerSecond).toBeGreaterThan(0);
    expect(update.flopsPerSecond).toBeGreaterThan(0);
    model.dispose();
  });

  test('the readback-free update moves the weights exactly as the engine update does (clipping active)', () => {
    const config = { ...updateConfig(getPreset('r1-zero').config, QUICK_SHAPES), maxGradNorm: 0.05 };
    const rows = randomUpdateRows(tokenizer, tokenizer.size, QUICK_SHAPES);
    const weights = (update: (model: GPT, optimizer: AdamW, parts: ReturnType<typeof grpoLossParts>) => void): Float32Array[] => {
      const model = GPT.create(modelSize('test', tokenizer.size), 4);
      const optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0.1 });
      const parts = grpoLossParts(model, null, rows, config, tokenizer.padId);
      update(model, optimizer, parts);
      parts.dispose();
      const out = Object.values(model.variables).map((v) => v.dataSync() as Float32Array);
      optimizer.dispose();
      model.dispose();
      return out;
    };
    const engine = weights((m, o, p) => { expect(accumulatedUpdate(m, o, p.parts, 1e-2, config.maxGradNorm).gradNorm).toBeGreaterThan(0.05); });
    const readbackFree = weights((m, o, p) => { updateWithoutReadback(m, o, p.parts, 1e-2, config.maxGradNorm).dispose(); });
    const start = weights(() => {});
    engine.forEach((w, i) => {
      expect(Math.max(...w.map((x, j) => Math.abs(x - (readbackFree[i] as Float32Array)[j]!)))).toBeLessThan(1e-6);
    });
    expect(engine.some((w, i) => w.some((x, j) => x !== (start[i] as Float32Array)[j]))).toBe(true);
  });
});
