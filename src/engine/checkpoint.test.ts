import { describe, expect, test } from 'vitest';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint, parseCheckpoint, serializeCheckpoint } from './checkpoint';
import { initialWeights } from './model';
import { modelSize } from './model-config';
import { DEFAULT_VOCAB } from './tokenizer';

const model = modelSize('test', DEFAULT_VOCAB.length);

function sample(): Checkpoint {
  const weights = initialWeights(model, 3);
  // Awkward float32 values must survive bit-exactly: subnormals, -0, extremes.
  const wte = weights.wte as Float32Array;
  wte[0] = -0;
  wte[1] = 1.4e-45;
  wte[2] = 3.4028234663852886e38;
  wte[3] = -1.1754943508222875e-38;
  wte[4] = 0.1;
  return { model, vocab: [...DEFAULT_VOCAB], meta: { step: 12, note: 'unit test', nested: { a: [1, 2] } }, weights };
}

/** The checkpoint as a plain object, to corrupt one field and serialise again. */
function raw(): Record<string, unknown> & { weights: Record<string, { shape: number[]; data: string }> } {
  return JSON.parse(serializeCheckpoint(sample()));
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe('checkpoint', () => {
  test('save then load gives back every weight bit-exactly, with model, vocabulary and meta', () => {
    const c = sample();
    const loaded = parseCheckpoint(serializeCheckpoint(c), DEFAULT_VOCAB);
    expect(loaded.model).toEqual(c.model);
    expect(loaded.vocab).toEqual(c.vocab);
    expect(loaded.meta).toEqual(c.meta);
    expect(Object.keys(loaded.weights).sort()).toEqual(Object.keys(c.weights).sort());
    for (const [name, values] of Object.entries(c.weights)) {
      expect(bits(loaded.weights[name] as Float32Array), name).toEqual(bits(values));
    }
    expect(Object.is((loaded.weights.wte as Float32Array)[0], -0)).toBe(true);
    // Serialising the loaded checkpoint again gives the same text.
    expect(serializeCheckpoint(loaded)).toBe(serializeCheckpoint(c));
  });

  test('weights that are views into a larger buffer serialise only their own bytes', () => {
    const c = sample();
    const big = new Float32Array((c.weights.wpe as Float32Array).length + 8).fill(7);
    big.set(c.weights.wpe as Float32Array, 4);
    const view = big.subarray(4, 4 + (c.weights.wpe as Float32Array).length);
    const loaded = parseCheckpoint(serializeCheckpoint({ ...c, weights: { ...c.weights, wpe: view } }));
    expect(bits(loaded.weights.wpe as Float32Array)).toEqual(bits(c.weights.wpe as Float32Array));
  });

  test('serialising without a weight names it', () => {
    const { wpe: _wpe, ...weights } = sample().weights;
    expect(() => serializeCheckpoint({ ...sample(), weights })).toThrow(/checkpoint: weight "wpe" is missing/);
  });

  test('corrupt JSON is an error saying so', () => {
    const text = serializeCheckpoint(sample());
    expect(() => parseCheckpoint(text.slice(0, text.length / 2))).toThrow(/checkpoint: not valid JSON/);
    expect(() => parseCheckpoint('')).toThrow(/not valid JSON/);
  });

  test('a wrong formatVersion or format names the field', () => {
    expect(() => parseCheckpoint(JSON.stringify({ ...raw(), formatVersion: 2 })))
      .toThrow(new RegExp(`checkpoint\\.formatVersion: 2 is not supported \\(allowed: ${CHECKPOINT_FORMAT_VERSION}\\)`));
    expect(() => parseCheckpoint(JSON.stringify({ ...raw(), formatVersion: '1' }))).toThrow(/checkpoint\.formatVersion/);
    const { formatVersion: _v, ...noVersion } = raw();
    expect(() => parseCheckpoint(JSON.stringify(noVersion))).toThrow(/checkpoint\.formatVersion/);
    expect(() => parseCheckpoint(JSON.stringify({ ...raw(), format: 'something-else' }))).toThrow(/checkpoint\.format:/);
    expect(() => parseCheckpoint('null')).toThrow(/checkpoint/);
    expect(() => parseCheckpoint('[1, 2]')).toThrow(/checkpoint/);
  });

  test('a missing weight names it', () => {
    const r = raw();
    delete r.weights['h0.attn.wo'];
    expect(() => parseCheckpoint(JSON.stringify(r))).toThrow(/checkpoint\.weights\.h0\.attn\.wo: missing/);
  });

  test('a wrong shape names the weight\'s shape field', () => {
    const r = raw();
    (r.weights['h0.mlp.w1'] as { shape: number[] }).shape = [64, 16];
    expect(() => parseCheckpoint(JSON.stringify(r)))
      .toThrow(/checkpoint\.weights\.h0\.mlp\.w1\.shape: \[64,16\] does not match the model \(\[16,64\]\)/);
  });

  test('bad base64 or the wrong number of bytes names the weight\'s data field', () => {
    const r = raw();
    (r.weights['lnf.g'] as { data: string }).data = 'not base64 !!';
    expect(() => parseCheckpoint(JSON.stringify(r))).toThrow(/checkpoint\.weights\.lnf\.g\.data: not valid base64/);
    const r2 = raw();
    (r2.weights['lnf.g'] as { data: string }).data = btoa('abcd');
    expect(() => parseCheckpoint(JSON.stringify(r2))).toThrow(/checkpoint\.weights\.lnf\.g\.data: 4 bytes, expected 64/);
  });

  test('a NaN or infinite weight names the weight', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const c = sample();
      (c.weights['h0.ln2.b'] as Float32Array)[5] = bad;
      expect(() => parseCheckpoint(serializeCheckpoint(c))).toThrow(/checkpoint\.weights\.h0\.ln2\.b: contains NaN or infinite values/);
    }
  });

  test('a vocabulary that differs from the expected one, or from vocabSize, names the field', () => {
    const text = serializeCheckpoint(sample());
    const swapped = [...DEFAULT_VOCAB];
    [swapped[10], swapped[11]] = [swapped[11] as string, swapped[10] as string];
    expect(() => parseCheckpoint(text, swapped)).toThrow(/checkpoint\.tokenizer\.vocab: the vocabulary differs/);
    expect(() => parseCheckpoint(text, [...DEFAULT_VOCAB, 'x'])).toThrow(/checkpoint\.tokenizer\.vocab/);
    const r = raw();
    (r.tokenizer as { vocab: string[] }).vocab = DEFAULT_VOCAB.slice(0, -1);
    expect(() => parseCheckpoint(JSON.stringify(r))).toThrow(
      new RegExp(`checkpoint\\.model\\.vocabSize: ${DEFAULT_VOCAB.length} does not match the vocabulary \\(${DEFAULT_VOCAB.length - 1} tokens\\)`),
    );
  });

  test('an invalid model config names the model field', () => {
    const r = raw();
    (r.model as Record<string, unknown>).heads = 3;
    expect(() => parseCheckpoint(JSON.stringify(r))).toThrow(/checkpoint\.model\.dModel: dModel must be divisible by heads/);
    const r2 = raw();
    (r2.model as Record<string, unknown>).layers = 'two';
    expect(() => parseCheckpoint(JSON.stringify(r2))).toThrow(/checkpoint\.model\.layers:/);
  });
});
