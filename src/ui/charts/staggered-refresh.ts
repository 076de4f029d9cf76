/**
 * Spreads chart redraws over time so the main thread never runs one long task.
 *
 * One recharts panel takes a few tens of milliseconds to redraw; all of them at once, on every
 * metrics batch, blocked the page for hundreds of milliseconds at a time. Here each chart shows
 * a new history version at most once per REFRESH_MS, and charts take turns: one redraw per task,
 * with a gap between tasks for input and painting. A chart off screen waits until it is seen.
 */
import { useEffect, useRef, useState } from 'react';

/** Slowest a chart lags the data it is given. */
const REFRESH_MS = 1000;
/** Pause between two charts' redraws, so clicks and typing get in between. */
const GAP_MS = 20;

type Job = () => void;
const queue: Job[] = [];
let timer: ReturnType<typeof setTimeout> | null = null;

function drainOne(): void {
  timer = null;
  queue.shift()?.();
  if (queue.length > 0) timer = setTimeout(drainOne, GAP_MS);
}

function enqueue(job: Job): void {
  if (queue.includes(job)) return;
  queue.push(job);
  timer ??= setTimeout(drainOne, GAP_MS);
}

function dequeue(job: Job): void {
  const i = queue.indexOf(job);
  if (i >= 0) queue.splice(i, 1);
}

/**
 * The value to draw: follows `value`, but a change shows only when this chart's turn comes, at
 * most once per REFRESH_MS, and only while `visible` (a chart scrolled into view catches up at
 * its next turn). The first value, and a return to an empty history, show at once.
 */
export function useStaggeredValue<T>(value: T, immediate: boolean, visible = true): T {
  const [shown, setShown] = useState(value);
  const latest = useRef(value);
  const lastShownAt = useRef(0);
  const [job] = useState<Job>(() => () => {
    lastShownAt.current = performance.now();
    setShown(latest.current);
  });

  useEffect(() => {
    latest.current = value;
    if (Object.is(value, shown)) return;
    if (immediate) {
      dequeue(job);
      job();
      return;
    }
    if (!visible) {
      dequeue(job);
      return;
    }
    const wait = Math.max(0, lastShownAt.current + REFRESH_MS - performance.now());
    const t = setTimeout(() => enqueue(job), wait);
    return () => clearTimeout(t);
  }, [value, shown, immediate, visible, job]);

  useEffect(() => () => dequeue(job), [job]);
  return shown;
}
