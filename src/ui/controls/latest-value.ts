import type { MetricPoint } from '../../../workers/protocol';

/** The most recent value of a metric in the history (searching back from the end), if any. */
export function latestValue(history: readonly MetricPoint[], key: string): number | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const v = history[i]?.values[key];
    if (v !== undefined) return v;
  }
  return undefined;
}
