/**
 * What our fused WGSL kernels share: one thread per item (a row, or an element) in a flat
 * dispatch of 64-wide workgroups, float32 in and (unless a kernel says int32) out, and scalar uniforms declared once with
 * their values, so the WGSL declarations and the data tfjs writes to the uniform buffer cannot
 * fall out of order. Each *-webgpu.ts file says only what its thread computes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WebGPUBackend, type WebGPUProgram, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';

export interface FlatKernel {
  /** The tensors the kernel reads, by the names the WGSL reads them with, in binding order. */
  inputs: Array<[name: string, tensor: tf.TensorInfo]>;
  outputShape: number[];
  /** How many items, one thread each. */
  threads: number;
  /** Scalar uniforms, read in WGSL as uniforms.<name>; `threads` is always there besides. */
  uniforms: Array<[name: string, type: 'i32' | 'f32', value: number]>;
  /** WGSL run by each thread, with its item in `index` (an i32, always below uniforms.threads). */
  body: string;
  /** WGSL functions the body calls, declared before it (they see the inputs and uniforms too). */
  helpers?: string;
  /** The output's dtype (default float32). setOutputAtIndex still takes an f32 and converts it. */
  outputDtype?: 'float32' | 'int32';
  /** Where the WGSL differs by attribute, a name for the variant: tfjs keys its pipelines by shader key. */
  variant?: string;
}

class FlatProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms: string;
  private readonly body: string;
  private readonly helpers: string;

  constructor(shaderKey: string, k: FlatKernel) {
    this.shaderKey = k.variant ? `${shaderKey}_${k.variant}` : shaderKey;
    this.outputShape = k.outputShape;
    this.variableNames = k.inputs.map(([name]) => name);
    this.uniforms = ['threads : i32,', ...k.uniforms.map(([name, type]) => `${name} : ${type},`)].join(' ');
    this.body = k.body;
    this.helpers = k.helpers ?? '';
    this.dispatchLayout = webgpu_util.flatDispatchLayout([k.threads]);
    this.dispatch = webgpu_util.computeDispatch(this.dispatchLayout, [k.threads], this.workgroupSize);
  }

  getUserCode(): string {
    return `${this.helpers}
      fn main(index : i32) {
        if (index < uniforms.threads) {
          ${this.body}
        }
      }
    `;
  }
}

/**
 * Registers `kernelName` for the webgpu backend as the flat kernel that `build` describes for
 * given inputs and attributes. tfjs caches the compiled pipeline under shaderKey (with the
 * inputs' ranks), so the WGSL body must not depend on shapes: pass sizes as uniforms.
 */
export function registerFlatWebGpuKernel(
  kernelName: string, shaderKey: string, build: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => FlatKernel,
): void {
  tf.registerKernel({
    kernelName,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => runFlatWebGpuKernel(backend as WebGPUBackend, shaderKey, build(inputs, attrs ?? {})),
  });
}

/** Runs one flat kernel on the webgpu backend: for a registered kernel that dispatches more than one program. */
export function runFlatWebGpuKernel(backend: WebGPUBackend, shaderKey: string, k: FlatKernel): tf.TensorInfo {
  const uniforms = [
    { type: 'int32', data: [k.threads] },
    ...k.uniforms.map(([, type, value]) => ({ type: type === 'i32' ? 'int32' : 'float32', data: [value] })),
  ];
  return backend.runWebGPUProgram(new FlatProgram(shaderKey, k), k.inputs.map(([, t]) => t), k.outputDtype ?? 'float32', uniforms);
}
