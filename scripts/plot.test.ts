import { describe, expect, test } from 'vitest';
import { FIGURES, movingAverage, stageBoundaries } from './plot/figures';
import { parseMetrics } from './plot/metrics';
import { combinedSvg, niceTicks, renderPanel } from './plot/svg';

const jsonl = [
  '{"step":0,"stage":1,"reward":0.1,"rewards/accuracy/mean":0,"rewards/format/mean":0.1,"kl":0,"note":"text is ignored"}',
  '',
  '{"step":1,"stage":2,"reward":0.5,"rewards/accuracy/mean":0.25,"rewards/format/mean":0.25,"kl":0.01,"eval/pass@1":0.2}',
  '{"step":2,"stage":2,"reward":0.75,"rewards/accuracy/mean":0.5,"rewards/format/mean":0.25,"kl":0.02}',
].join('\n');

describe('parseMetrics', () => {
  test('keeps numeric fields and skips blank lines', () => {
    const rows = parseMetrics(jsonl, 'm.jsonl');
    expect(rows).toHaveLength(3);
    expect(rows[0]).not.toHaveProperty('note');
    expect(rows[1]?.['eval/pass@1']).toBe(0.2);
  });

  test('a corrupt line is reported with its file and 1-based line number', () => {
    expect(() => parseMetrics('{"step":0}\n{"step":1,', 'runs/x.jsonl')).toThrow(/^runs\/x\.jsonl:2: not valid JSON/);
    expect(() => parseMetrics('{"step":0}\n[1]', 'x.jsonl')).toThrow('x.jsonl:2: expected a JSON object, got an array');
  });

  test('an empty file is an error, not an empty plot', () => {
    expect(() => parseMetrics('\n\n', 'x.jsonl')).toThrow(/no metrics lines/);
  });
});

describe('figures', () => {
  const run = { label: 'run', rows: parseMetrics(jsonl, 'm.jsonl') };

  test('the reward figure draws the total and one series per reward function', () => {
    const reward = FIGURES.find((f) => f.id === 'reward')!;
    const svg = renderPanel(reward, [run]).body;
    expect(svg).toContain('>total<');
    expect(svg).toContain('>accuracy<');
    expect(svg).toContain('>format<');
    expect(svg).toContain('>step<');
  });

  test('a figure without data says so instead of drawing empty axes', () => {
    const length = FIGURES.find((f) => f.id === 'length')!;
    expect(renderPanel(length, [run]).body).toContain('no data for this figure');
  });

  test('several runs overlay with the run name in each legend entry', () => {
    const kl = FIGURES.find((f) => f.id === 'kl')!;
    const svg = renderPanel(kl, [run, { ...run, label: 'other' }]).body;
    expect(svg).toContain('run: KL');
    expect(svg).toContain('other: KL');
  });

  test('the combined figure is one SVG document with every panel and an escaped title', () => {
    const svg = combinedSvg(FIGURES.map((f) => renderPanel(f, [run])), 'a < b');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt; b');
    expect(svg.match(/<g transform=/g)).toHaveLength(FIGURES.length);
  });

  test('stage boundaries mark the first step of each new stage', () => {
    expect(stageBoundaries(run.rows)).toEqual([{ x: 1, stage: 2 }]);
  });
});

test('niceTicks covers the range with round steps', () => {
  expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  const ticks = niceTicks(3, 197);
  expect(ticks[0]).toBeLessThanOrEqual(3);
  expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(197);
  expect(niceTicks(5, 5).length).toBeGreaterThan(1);
});

test('movingAverage of window 1 is the identity and otherwise averages the trailing points', () => {
  const pts = [1, 2, 3, 4].map((y, x) => ({ x, y }));
  expect(movingAverage(pts, 1)).toBe(pts);
  expect(movingAverage(pts, 2).map((p) => p.y)).toEqual([1, 1.5, 2.5, 3.5]);
});
