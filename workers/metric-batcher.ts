/**
 * Sends metric points to the UI in batches of new points: at most one message per interval
 * while training fast, and at once at every boundary (pause, end, evaluation) via flush().
 */
import type { MetricPoint } from './protocol';

export class MetricBatcher {
  private pending: MetricPoint[] = [];
  private lastFlush = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (points: MetricPoint[]) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(point: MetricPoint): void {
    this.pending.push(point);
    if (this.now() - this.lastFlush >= this.intervalMs) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const points = this.pending;
    this.pending = [];
    this.lastFlush = this.now();
    this.send(points);
  }

  /** Drops unsent points (the run they belong to was reset). */
  clear(): void {
    this.pending = [];
  }
}
