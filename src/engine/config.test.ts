import { describe, expect, test } from 'vitest';
import { type GrpoConfig, validateConfig } from './config';
import { MODEL_SIZES } from './model-config';
import { PRESETS, getPreset } from './presets';

const base: GrpoConfig = PRESETS.tiny?.config as GrpoConfig;

function errorOf(patch: Record<string, unknown>): string {
  try {
    validateConfig({ ...base, ...patch });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`validateConfig accepted ${JSON.stringify(patch)}`);
}

describe('validateConfig', () => {
  test.each(Object.keys(PRESETS))('preset %s validates and getPreset returns it unchanged', (name) => {
    const preset = getPreset(name);
    expect(preset).toBe(PRESETS[name]);
    expect(validateConfig(preset.config)).toEqual(preset.config);
    expect(preset.description.length).toBeGreaterThan(20);
    expect(Object.keys(MODEL_SIZES)).toContain(preset.config.model);
  });

  test('getPreset of an unknown name lists the presets', () => {
    expect(() => getPreset('nope')).toThrow(`preset: "nope" is not a preset (allowed: ${Object.keys(PRESETS).join(', ')})`);
  });

  test('groupSize 1 is rejected naming config.groupSize', () => {
    expect(errorOf({ groupSize: 1 })).toMatch(/^config\.groupSize: .*>=\s*2/);
  });

  test('an unknown lossType names config.lossType and the allowed values', () => {
    expect(errorOf({ lossType: 'foo' })).toMatch(/^config\.lossType: .*\(allowed: grpo, bnpo, dr_grpo, dapo\)$/);
  });

  test("microBatchRows takes 'auto' or 0..4096, and a bad value names both", () => {
    expect(validateConfig({ ...base, microBatchRows: 'auto' }).microBatchRows).toBe('auto');
    expect(validateConfig({ ...base, microBatchRows: 0 }).microBatchRows).toBe(0);
    for (const bad of ['all', -1, 2.5, 5000]) {
      expect(errorOf({ microBatchRows: bad })).toBe("config.microBatchRows: must be 'auto' or a whole number from 0 to 4096");
    }
  });

  test('other enums name their allowed values too', () => {
    expect(errorOf({ scaleRewards: 'std' })).toMatch(/config\.scaleRewards: .*\(allowed: group, batch, none\)/);
    expect(errorOf({ lrDecay: 'step' })).toMatch(/config\.lrDecay: .*\(allowed: constant, linear, cosine\)/);
    expect(errorOf({ task: 'chess' })).toMatch(/config\.task: .*\(allowed: addition, countdown, multiplication\)/);
    expect(errorOf({ model: 'huge' })).toMatch(new RegExp(`config\\.model: .*\\(allowed: ${Object.keys(MODEL_SIZES).join(', ')}\\)`));
  });

  test('temperature 0 is rejected naming config.temperature', () => {
    expect(errorOf({ temperature: 0 })).toMatch(/^config\.temperature: .*>\s*0/);
    expect(errorOf({ temperature: -1 })).toMatch(/^config\.temperature:/);
  });

  test('overlongBuffer must be shorter than maxCompletionLength', () => {
    expect(errorOf({ overlongBuffer: base.maxCompletionLength })).toBe(
      `config.overlongBuffer: must be < maxCompletionLength (${base.maxCompletionLength})`,
    );
  });

  test('reward weights name the bad key or value', () => {
    expect(errorOf({ rewardWeights: { accuracy: 1, speed: 2 } })).toMatch(/config\.rewardWeights.*speed/);
    expect(errorOf({ rewardWeights: { accuracy: Number.NaN } })).toMatch(/config\.rewardWeights\.accuracy:/);
  });

  test('non-integers, missing fields and wrong types name each field, one line each', () => {
    expect(errorOf({ steps: 1.5 })).toMatch(/^config\.steps:/);
    expect(errorOf({ dynamicSampling: 'yes' })).toMatch(/^config\.dynamicSampling:/);
    const { seed: _seed, ...noSeed } = base;
    expect(() => validateConfig(noSeed)).toThrow(/^config\.seed:/);
    const lines = errorOf({ groupSize: 1, lossType: 'foo', temperature: 0 }).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.split(':')[0])).toEqual(['config.groupSize', 'config.temperature', 'config.lossType']);
    expect(() => validateConfig(null)).toThrow(/^config\.\(config\):/);
  });
});
