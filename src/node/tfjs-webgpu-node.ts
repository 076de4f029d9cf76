/**
 * WebGPU in Node, through Dawn (the WebGPU implementation inside Chromium) as packaged by the
 * `webgpu` npm package. It is not a dependency of the lab: `npm run bench:gpu` installs nothing
 * and asks for it (`npm install --no-save webgpu`) when it is missing.
 *
 * tfjs-backend-webgpu registers itself only when navigator.gpu exists at import time, so the GPU
 * object is put in place first and the backend imported after.
 *
 * One limit: tfjs reads WebGPU buffers synchronously (dataSync) through an OffscreenCanvas, which
 * Node has not got. Code run here must read back with await data().
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdapterFigures {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

interface GpuAdapterLike {
  info?: Partial<AdapterFigures>;
  isFallbackAdapter?: boolean;
}

/** Loads Dawn, selects tfjs's webgpu backend and describes the adapter it got. */
export async function useNodeWebGPU(flags: string[] = []): Promise<AdapterFigures> {
  let dawn: DawnModule;
  try {
    // A name in a variable: neither the type checker nor a bundler should look for the package.
    const packageName = 'webgpu';
    dawn = (await import(packageName)) as unknown as DawnModule;
  } catch (error) {
    throw new Error(`webgpu: the Dawn bindings for Node are not installed (npm install --no-save webgpu): ${(error as Error).message}`);
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(flags);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('webgpu: Dawn found no adapter (is a Vulkan driver installed? VK_DRIVER_FILES names one)');
  await import('@tensorflow/tfjs-backend-webgpu');
  await import('../engine/fused/webgpu-kernels');
  const ok = await tf.setBackend('webgpu');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error('webgpu: the tfjs webgpu backend failed to initialise');
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
    isFallbackAdapter: Boolean(adapter.isFallbackAdapter ?? (info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
}
