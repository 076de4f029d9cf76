import { describe, expect, test } from 'vitest';
import type { MetricPoint } from '../../../workers/protocol';
import {
  alignSeries, buildChartRows, downsample, formatValue, isEvalKey, mergeSparse, seriesOf, smoothEma, type SeriesPoint,
} from './series';

function point(step: number, values: Record<string, number>): MetricPoint {
  return { step, stage: 'r1-zero', values };
}

function line(n: number, value: (i: number) => number): SeriesPoint[] {
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, value: value(i) }));
}

describe('seriesOf', () => {
  test('keeps only the points that carry a finite value for the key', () => {
    const history = [
      point(1, { reward: 0.5, kl: 0 }),
      point(2, { kl: 0.1 }),
      point(2, { 'eval/pass@1': 0.25 }),
      point(3, { reward: Number.NaN }),
      point(4, { reward: 0.75 }),
    ];
    expect(seriesOf(history, 'reward')).toEqual([{ step: 1, value: 0.5 }, { step: 4, value: 0.75 }]);
    expect(seriesOf(history, 'eval/pass@1')).toEqual([{ step: 2, value: 0.25 }]);
    expect(seriesOf(history, 'entropy')).toEqual([]);
  });
});

describe('smoothEma', () => {
  test('debiased EMA of [1, 2, 3] with weight 0.5, by hand', () => {
    // accumulator: 0.5, 1.25, 2.125; debias: 1 - 0.5^n = 0.5, 0.75, 0.875.
    const out = smoothEma([1, 2, 3], 0.5);
    expect(out[0]).toBeCloseTo(1, 12);
    expect(out[1]).toBeCloseTo(1.25 / 0.75, 12); // 5/3
    expect(out[2]).toBeCloseTo(2.125 / 0.875, 12); // 17/7
  });

  test('weight 0 is the identity and a constant stays constant', () => {
    expect(smoothEma([3, -1, 7], 0)).toEqual([3, -1, 7]);
    for (const v of smoothEma([2, 2, 2, 2], 0.9)) expect(v).toBeCloseTo(2, 12);
  });

  test('a non-finite value passes through without disturbing the average', () => {
    const out = smoothEma([1, Number.NaN, 3], 0.5);
    expect(out[0]).toBeCloseTo(1, 12);
    expect(out[1]).toBeNaN();
    // As if the series were [1, 3]: (0.5 * 0.5 + 0.5 * 3) / 0.75 = 7/3.
    expect(out[2]).toBeCloseTo(1.75 / 0.75, 12);
  });
});

describe('downsample', () => {
  test('10,000 points become at most 500, keeping the first, the last and a one-step spike', () => {
    const points = line(10_000, (i) => (i === 4321 ? 100 : Math.sin(i / 50)));
    const before = points.slice();
    const out = downsample(points, 500);
    expect(out.length).toBeLessThanOrEqual(500);
    expect(out.length).toBeGreaterThan(400);
    expect(out[0]).toEqual(points[0]);
    expect(out[out.length - 1]).toEqual(points[9_999]);
    expect(out).toContainEqual({ step: 4322, value: 100 });
    // Steps stay in order, and every kept point is a real one.
    for (let i = 1; i < out.length; i++) expect(out[i]!.step).toBeGreaterThan(out[i - 1]!.step);
    for (const p of out) expect(p).toBe(points[p.step - 1]);
    expect(points).toEqual(before);
  });

  test('keeps a dip as well as a spike', () => {
    const points = line(1000, (i) => (i === 10 ? -5 : i === 990 ? 5 : 0));
    const out = downsample(points, 20);
    expect(out).toContainEqual({ step: 11, value: -5 });
    expect(out).toContainEqual({ step: 991, value: 5 });
  });

  test('short series are returned whole (as a copy)', () => {
    const points = line(5, (i) => i);
    const out = downsample(points, 10);
    expect(out).toEqual(points);
    expect(out).not.toBe(points);
  });
});

describe('alignSeries', () => {
  test('merges series into rows keyed by step when they fit', () => {
    const rows = alignSeries([
      { key: 'a', points: [{ step: 1, value: 1 }, { step: 2, value: 2 }] },
      { key: 'b', points: [{ step: 2, value: 20 }, { step: 3, value: 30 }] },
    ], 10);
    expect(rows).toEqual([{ step: 1, a: 1 }, { step: 2, a: 2, b: 20 }, { step: 3, b: 30 }]);
  });

  test('bounds the rows for many series and keeps each one\'s spike and latest value', () => {
    const a = line(10_000, (i) => (i === 1234 ? 9 : 0));
    const b = line(10_000, (i) => (i === 8765 ? -9 : 1));
    const rows = alignSeries([{ key: 'a', points: a }, { key: 'b', points: b }], 400);
    expect(rows.length).toBeLessThanOrEqual(400);
    expect(rows.some((r) => r.a === 9)).toBe(true);
    expect(rows.some((r) => r.b === -9)).toBe(true);
    expect(rows[0]).toEqual({ step: 1, a: 0, b: 1 });
    expect(rows[rows.length - 1]).toEqual({ step: 10_000, a: 0, b: 1 });
    const spike = rows.find((r) => r.a === 9)!;
    expect(spike.range![0]).toBeLessThanOrEqual(1235);
    expect(spike.range![1]).toBeGreaterThanOrEqual(1235);
  });

  test('band edges take the bucket minimum and maximum', () => {
    const lo = line(1000, (i) => (i === 500 ? -1 : 0));
    const hi = line(1000, (i) => (i === 500 ? 50 : 10));
    const rows = alignSeries([{ key: 'lo', points: lo, mode: 'min' }, { key: 'hi', points: hi, mode: 'max' }], 50);
    const bucket = rows.filter((r) => r.range && r.range[0] <= 501 && r.range[1] >= 501);
    expect(bucket.length).toBeGreaterThan(0);
    for (const r of bucket) expect([r.lo, r.hi]).toEqual([-1, 50]);
  });
});

describe('mergeSparse and buildChartRows', () => {
  test('eval points land at their exact steps, unsmoothed', () => {
    const history = [
      point(1, { reward: 0 }),
      point(2, { reward: 1 }),
      point(2, { 'eval/pass@1': 0.5 }),
      point(3, { reward: 1 }),
      point(4, { 'eval/pass@1': 0.75 }),
    ];
    const rows = buildChartRows(history, { keys: ['reward', 'eval/pass@1'] }, 0.5, 400);
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(rows[0]!.reward).toBeCloseTo(0, 12);
    expect(rows[1]!.reward).toBeCloseTo(0.5 / 0.75, 12);
    expect(rows[1]!['eval/pass@1']).toBe(0.5);
    expect(rows[3]).toEqual({ step: 4, 'eval/pass@1': 0.75 });
  });

  test('a band becomes a [low, high] pair on each row', () => {
    const history = [
      point(1, { 'completions/mean_length': 10, 'completions/min_length': 4, 'completions/max_length': 20 }),
      point(2, { 'completions/mean_length': 12, 'completions/min_length': 5, 'completions/max_length': 30 }),
    ];
    const rows = buildChartRows(history, {
      keys: ['completions/mean_length'],
      band: { key: 'length_band', lowKey: 'completions/min_length', highKey: 'completions/max_length' },
    }, 0, 400);
    expect(rows.map((r) => r.length_band)).toEqual([[4, 20], [5, 30]]);
  });

  test('10,000 steps with evals stay within the row budget, every eval kept', () => {
    const history: MetricPoint[] = [];
    for (let step = 1; step <= 10_000; step++) {
      history.push(point(step, { reward: step % 997 === 0 ? 5 : 1 }));
      if (step % 250 === 0) history.push(point(step, { 'eval/pass@1': step / 10_000 }));
    }
    const rows = buildChartRows(history, { keys: ['reward', 'eval/pass@1'] }, 0, 400);
    expect(rows.length).toBeLessThanOrEqual(400);
    expect(rows.filter((r) => r['eval/pass@1'] !== undefined)).toHaveLength(40);
    expect(rows.filter((r) => r.reward === 5).length).toBeGreaterThanOrEqual(10);
  });

  test('mergeSparse inserts a row between existing ones', () => {
    const rows = mergeSparse([{ step: 1, a: 1 }, { step: 5, a: 2 }], 'e', [{ step: 3, value: 7 }]);
    expect(rows).toEqual([{ step: 1, a: 1 }, { step: 3, e: 7 }, { step: 5, a: 2 }]);
  });
});

describe('formatValue', () => {
  test('short labels', () => {
    expect(formatValue(0)).toBe('0');
    expect(formatValue(12_345)).toBe('12.3k');
    expect(formatValue(0.04213)).toBe('0.0421');
    expect(formatValue(1.5)).toBe('1.5');
    expect(formatValue(0.00001234)).toBe('1.2e-5');
  });
});

describe('isEvalKey', () => {
  test('held-out metrics are recognised under a previous-run or a compared-stage prefix, training metrics are not', () => {
    expect(isEvalKey('eval/pass@1')).toBe(true);
    expect(isEvalKey('previous:eval/pass@1')).toBe(true);
    expect(isEvalKey('ppo|eval/pass@1')).toBe(true);
    expect(isEvalKey('ppo|reward')).toBe(false);
    expect(isEvalKey('rewards/eval/mean')).toBe(false);
    expect(isEvalKey('a|b|eval/x')).toBe(false);
  });
});
