/**
 * Forwards only the latest value, at most once per interval, and the pending one on flush():
 * the group view needs the newest group, not every group of a fast run.
 */
export class LatestThrottle<T> {
  private pending: T | undefined;
  private hasPending = false;
  private lastSent = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (value: T) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(value: T): void {
    this.pending = value;
    this.hasPending = true;
    if (this.now() - this.lastSent >= this.intervalMs) this.flush();
  }

  flush(): void {
    if (!this.hasPending) return;
    const value = this.pending as T;
    this.pending = undefined;
    this.hasPending = false;
    this.lastSent = this.now();
    this.send(value);
  }

  clear(): void {
    this.pending = undefined;
    this.hasPending = false;
  }
}
