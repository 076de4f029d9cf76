/**
 * Errors the GPU raises on its own timeline. WebGPU reports a rejected shader or buffer (a
 * validation error, running out of memory) as an 'uncapturederror' event on the device, and
 * drops the work: tfjs carries on, and the step's numbers come out wrong without a word. The
 * worker listens on tfjs's device and the session checks between steps, so that such a run
 * stops with the GPU's own message instead.
 */
import * as tf from '@tensorflow/tfjs-core';

interface GpuErrorEventLike {
  error?: { message?: string };
}
interface GpuDeviceLike {
  addEventListener(type: 'uncapturederror', listener: (e: GpuErrorEventLike) => void): void;
}

const pending: string[] = [];

/** Listens on the active webgpu backend's device (call once it is active). */
export function watchGpuErrors(): void {
  const device = (tf.backend() as unknown as { device?: GpuDeviceLike }).device;
  device?.addEventListener('uncapturederror', (e) => { pending.push(e.error?.message ?? 'an unnamed GPU error'); });
}

/** Throws with the first error the GPU has reported since the last check. */
export function checkGpuErrors(): void {
  if (pending.length === 0) return;
  const [first] = pending.splice(0);
  throw new Error(`WebGPU rejected work, so this step's numbers cannot be trusted (choose wasm to go on): ${(first as string).split('\n')[0]}`);
}
