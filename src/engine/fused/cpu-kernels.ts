/**
 * Plain JavaScript versions of the fused kernels for tfjs's cpu backend. Nothing registers them
 * in the lab (the cpu backend gains nothing from fusing); tests register them to run the fused
 * ops' customGrad wiring and hand-written backward passes in Node, where there is no GPU, and
 * compare them with the composite ops. The WGSL versions are checked the same way in Chromium
 * (e2e/webgpu.spec.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL } from './adamw';
import { ATTENTION_GRAD_KERNEL, ATTENTION_PROBS_KERNEL, ATTENTION_VALUES_KERNEL, attentionLayout } from './attention';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL, GELU_SLOPE } from './bias-gelu';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { FUSED_KERNELS, fusedOutputDtype, fusedOutputShape } from './kernels';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';
import { SAMPLE_TOKENS_KERNEL } from './sample-tokens';
import { DECODE_LINEAR_KERNEL, decodeLinearWidth } from './decode-linear';
import { TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_LOGPROBS_KERNEL } from './token-stats';
import { chooseToken } from '../token-choice';

/** The two methods of tfjs's cpu backend these kernels use (its class is not exported with types). */
interface CpuBackend {
  readSync(dataId: object): Float32Array;
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): tf.TensorInfo;
}

export type Compute = (read: (t: tf.TensorInfo) => Float32Array, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, number>) => Float32Array;

function layerNorm(read: (t: tf.TensorInfo) => Float32Array, { x, gain, bias }: Record<string, tf.TensorInfo>, { eps }: Record<string, number>): Float32Array {
  const [xs, g, b] = [read(x!), read(gain!), read(bias!)];
  const width = x!.shape.at(-1) as number;
  const out = new Float32Array(xs.length);
  for (let base = 0; base < xs.length; base += width) {
    const { mean, rstd } = rowMoments(xs, base, width, eps!);
    for (let j = 0; j < width; j++) out[base + j] = (xs[base + j]! - mean) * rstd * g[j]! + b[j]!;
  }
  return out;
}

/** Each row's mean and 1 / sqrt(variance + eps), as layerNorm computes them. */
function rowMoments(xs: Float32Array, base: number, width: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let j = 0; j < width; j++) mean += xs[base + j]!;
  mean /= width;
  let variance = 0;
  for (let j = 0; j < width; j++) variance += (xs[base + j]! - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(variance / width + eps) };
}

function layerNormGrad(read: (t: tf.TensorInfo) => Float32Array, { x, gain, dy }: Record<string, tf.TensorInfo>, { eps }: Record<string, number>): Float32Array {
  const [xs, g, d] = [read(x!), read(gain!), read(dy!)];
  const width = x!.shape.at(-1) as number;
  const out = new Float32Array(xs.length);
  for (let base = 0; base < xs.length; base += width) {
    const { mean, rstd } = rowMoments(xs, base, width, eps!);
    let a = 0;
    let b = 0;
    for (let j = 0; j < width; j++) {
      const dxhat = d[base + j]! * g[j]!;
      a += dxhat;
      b += dxhat * (xs[base + j]! - mean) * rstd;
    }
    for (let j = 0; j < width; j++) out[base + j] = rstd * (d[base + j]! * g[j]! - a / width - (xs[base + j]! - mean) * rstd * (b / width));
  }
  return out;
}

function layerNormGainGrad(read: (t: tf.TensorInfo) => Float32Array, { x, dy }: Record<string, tf.TensorInfo>, { eps }: Record<string, number>): Float32Array {
  const [xs, d] = [read(x!), read(dy!)];
  const width = x!.shape.at(-1) as number;
  const out = new Float32Array(width);
  for (let base = 0; base < xs.length; base += width) {
    const { mean, rstd } = rowMoments(xs, base, width, eps!);
    for (let j = 0; j < width; j++) out[j] = out[j]! + d[base + j]! * (xs[base + j]! - mean) * rstd;
  }
  return out;
}

function maskedSoftmax(read: (t: tf.TensorInfo) => Float32Array, { scores, bias }: Record<string, tf.TensorInfo>, { scale }: Record<string, number>): Float32Array {
  const [s, m] = [read(scores!), read(bias!)];
  const [, H, T, Tk] = scores!.shape as [number, number, number, number];
  const out = new Float32Array(s.length);
  // float32 like the ops and the GPU: there, MASKED + a score rounds to MASKED, so a row with
  // every key masked comes out uniform; in float64 the scores would still show through.
  const logits = new Float32Array(Tk);
  for (let row = 0; row * Tk < s.length; row++) {
    const maskBase = (Math.floor(row / (H * T)) * T + (row % T)) * Tk;
    for (let j = 0; j < Tk; j++) logits[j] = Math.fround(s[row * Tk + j]! * scale!) + m[maskBase + j]!;
    const top = Math.max(...logits);
    let total = 0;
    for (let j = 0; j < Tk; j++) total += Math.exp(logits[j]! - top);
    for (let j = 0; j < Tk; j++) out[row * Tk + j] = Math.exp(logits[j]! - top) / total;
  }
  return out;
}

function biasGelu(read: (t: tf.TensorInfo) => Float32Array, { x, bias }: Record<string, tf.TensorInfo>): Float32Array {
  const [xs, b] = [read(x!), read(bias!)];
  const width = b.length;
  return xs.map((v, i) => {
    const z = v + b[i % width]!;
    return z / (1 + Math.exp(-GELU_SLOPE * z));
  });
}

function decodeLinear(read: (t: tf.TensorInfo) => Float32Array, { x, w, gain, shift, bias, residual }: Record<string, tf.TensorInfo>, a: Record<string, number>): Float32Array {
  const [xs, ws] = [read(x!), read(w!)];
  const [g, s] = gain && shift ? [read(gain), read(shift)] : [null, null];
  const [b, r] = [bias ? read(bias) : null, residual ? read(residual) : null];
  const [M, K] = x!.shape as [number, number];
  const N = decodeLinearWidth(w!.shape, a.transposeW === 1);
  const out = new Float32Array(M * N);
  const h = new Float32Array(K);
  for (let m = 0; m < M; m++) {
    const { mean, rstd } = g ? rowMoments(xs, m * K, K, a.eps!) : { mean: 0, rstd: 1 };
    for (let j = 0; j < K; j++) h[j] = g && s ? (xs[m * K + j]! - mean) * rstd * g[j]! + s[j]! : xs[m * K + j]!;
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let j = 0; j < K; j++) acc += h[j]! * ws[a.transposeW === 1 ? n * K + j : j * N + n]!;
      if (b) acc += b[n]!;
      if (a.gelu === 1) acc /= 1 + Math.exp(-GELU_SLOPE * acc);
      if (r) acc += r[m * N + n]!;
      out[m * N + n] = acc;
    }
  }
  return out;
}

function biasGeluGrad(read: (t: tf.TensorInfo) => Float32Array, { x, bias, dy }: Record<string, tf.TensorInfo>): Float32Array {
  const [xs, b, d] = [read(x!), read(bias!), read(dy!)];
  const width = b.length;
  return xs.map((v, i) => {
    const z = v + b[i % width]!;
    const s = 1 / (1 + Math.exp(-GELU_SLOPE * z));
    return d[i]! * (s + GELU_SLOPE * z * s * (1 - s));
  });
}

function adamMoment(read: (t: tf.TensorInfo) => Float32Array, { moment, grad }: Record<string, tf.TensorInfo>, { beta, rest, squared }: Record<string, number>): Float32Array {
  const [m, g] = [read(moment!), read(grad!)];
  // Each product rounded to float32 as the ops' are; the JavaScript arithmetic is float64.
  return m.map((x, i) => Math.fround(x * Math.fround(beta!)) + Math.fround(Math.fround(squared ? g[i]! * g[i]! : g[i]!) * Math.fround(rest!)));
}

function adamWStep(read: (t: tf.TensorInfo) => Float32Array, { param, m, v }: Record<string, tf.TensorInfo>, a: Record<string, number>): Float32Array {
  const [p, first, second] = [read(param!), read(m!), read(v!)];
  return p.map((x, i) => x * a.keep! - (first[i]! / (Math.sqrt(second[i]!) / a.sqrtBc2! + a.eps!)) * a.stepSize!);
}

function appendHeads(read: (t: tf.TensorInfo) => Float32Array, { past, qkv }: Record<string, tf.TensorInfo>, { part }: Record<string, number>): Float32Array {
  const [cache, fresh] = [read(past!), read(qkv!)];
  const [B, H, Tp, hd] = past!.shape as [number, number, number, number];
  const out = new Float32Array(B * H * (Tp + 1) * hd);
  for (let bh = 0; bh < B * H; bh++) {
    const b = Math.floor(bh / H);
    out.set(cache.subarray(bh * Tp * hd, (bh + 1) * Tp * hd), bh * (Tp + 1) * hd);
    const from = (b * 3 + part!) * H * hd + (bh % H) * hd;
    out.set(fresh.subarray(from, from + hd), (bh * (Tp + 1) + Tp) * hd);
  }
  return out;
}

function decodeAttention(read: (t: tf.TensorInfo) => Float32Array, inputs: Record<string, tf.TensorInfo>, { scale }: Record<string, number>): Float32Array {
  const [qkv, keys, values, mask] = [read(inputs.qkv!), read(inputs.keys!), read(inputs.values!), read(inputs.bias!)];
  const [B, H, Tk, hd] = inputs.keys!.shape as [number, number, number, number];
  const maskWidth = inputs.bias!.shape[3] as number;
  const d = H * hd;
  const out = new Float32Array(B * d);
  const logits = new Float32Array(Tk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const q = b * 3 * d + h * hd;
      const kv = (b * H + h) * Tk * hd;
      for (let t = 0; t < Tk; t++) {
        let dot = 0;
        for (let j = 0; j < hd; j++) dot += qkv[q + j]! * keys[kv + t * hd + j]!;
        logits[t] = Math.fround(dot * scale!) + mask[b * maskWidth + t]!;
      }
      const top = Math.max(...logits);
      let total = 0;
      for (let t = 0; t < Tk; t++) total += Math.exp(logits[t]! - top);
      for (let j = 0; j < hd; j++) {
        let acc = 0;
        for (let t = 0; t < Tk; t++) acc += Math.exp(logits[t]! - top) * values[kv + t * hd + j]!;
        out[b * d + h * hd + j] = acc / total;
      }
    }
  }
  return out;
}

function attentionProbs(read: (t: tf.TensorInfo) => Float32Array, { qkv, bias }: Record<string, tf.TensorInfo>, { heads, scale }: Record<string, number>): Float32Array {
  const [x, m] = [read(qkv!), read(bias!)];
  const { B, T, Tq, H, hd, d, row } = attentionLayout(qkv!.shape, heads!, bias!.shape[2]);
  const out = new Float32Array(B * H * Tq * T);
  const logits = new Float32Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Tq; i++) {
        // Query i is token T - Tq + i.
        const q = (b * T + T - Tq + i) * row + h * hd;
        for (let j = 0; j < T; j++) {
          const k = (b * T + j) * row + d + h * hd;
          let dot = 0;
          for (let c = 0; c < hd; c++) dot += x[q + c]! * x[k + c]!;
          // float32 like maskedSoftmax's: MASKED + a score rounds to MASKED.
          logits[j] = Math.fround(dot * scale!) + m[(b * Tq + i) * T + j]!;
        }
        const top = Math.max(...logits);
        let total = 0;
        for (let j = 0; j < T; j++) total += Math.exp(logits[j]! - top);
        for (let j = 0; j < T; j++) out[((b * H + h) * Tq + i) * T + j] = Math.exp(logits[j]! - top) / total;
      }
    }
  }
  return out;
}

function attentionValues(read: (t: tf.TensorInfo) => Float32Array, { probs, qkv }: Record<string, tf.TensorInfo>): Float32Array {
  const [p, x] = [read(probs!), read(qkv!)];
  const { B, T, Tq, H, hd, d, row } = attentionLayout(qkv!.shape, probs!.shape[1] as number, probs!.shape[2]);
  const out = new Float32Array(B * Tq * d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Tq; i++) {
        for (let c = 0; c < hd; c++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += p[((b * H + h) * Tq + i) * T + j]! * x[(b * T + j) * row + 2 * d + h * hd + c]!;
          out[(b * Tq + i) * d + h * hd + c] = acc;
        }
      }
    }
  }
  return out;
}

function attentionGrad(read: (t: tf.TensorInfo) => Float32Array, { dy, qkv, probs }: Record<string, tf.TensorInfo>, { scale }: Record<string, number>): Float32Array {
  const [g, x, p] = [read(dy!), read(qkv!), read(probs!)];
  const { B, T, Tq, H, hd, d, row } = attentionLayout(qkv!.shape, probs!.shape[1] as number, probs!.shape[2]);
  const out = new Float32Array(B * T * row);
  const dS = new Float64Array(T);
  const dot = (a: Float32Array, i: number, b: Float32Array, j: number): number => {
    let s = 0;
    for (let c = 0; c < hd; c++) s += a[i + c]! * b[j + c]!;
    return s;
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const at = (t: number, part: number): number => (b * T + t) * row + part * d + h * hd;
      for (let i = 0; i < Tq; i++) {
        const query = T - Tq + i;
        const P = (j: number): number => p[((b * H + h) * Tq + i) * T + j]!;
        const dO = (b * Tq + i) * d + h * hd;
        // dP_ij = dO_i · V_j; dS_ij = P_ij (dP_ij − Σ_j' P_ij' dP_ij') * scale
        let c = 0;
        for (let j = 0; j < T; j++) c += P(j) * (dS[j] = dot(g, dO, x, at(j, 2)));
        for (let j = 0; j < T; j++) dS[j] = P(j) * (dS[j]! - c) * scale!;
        for (let j = 0; j < T; j++) {
          for (let e = 0; e < hd; e++) {
            out[at(query, 0) + e] = out[at(query, 0) + e]! + dS[j]! * x[at(j, 1) + e]!; // dQ_i += dS_ij K_j
            out[at(j, 1) + e] = out[at(j, 1) + e]! + dS[j]! * x[at(query, 0) + e]!; // dK_j += dS_ij Q_i
            out[at(j, 2) + e] = out[at(j, 2) + e]! + P(j) * g[dO + e]!; // dV_j += P_ij dO_i
          }
        }
      }
    }
  }
  return out;
}

/** Each row of V logits as its maximum m, Z = Σ exp(l − m), and the row's start. */
function logitRows(logits: tf.TensorInfo, values: Float32Array): Array<{ base: number; m: number; z: number }> {
  const V = logits.shape.at(-1) as number;
  return Array.from({ length: values.length / V }, (_, r) => {
    const row = values.subarray(r * V, (r + 1) * V);
    const m = Math.max(...row);
    return { base: r * V, m, z: row.reduce((t, l) => t + Math.exp(l - m), 0) };
  });
}

function tokenLogProbs(read: (t: tf.TensorInfo) => Float32Array, { logits, targets }: Record<string, tf.TensorInfo>): Float32Array {
  const [l, t] = [read(logits!), read(targets!)];
  return Float32Array.from(logitRows(logits!, l), ({ base, m, z }, r) => l[base + t[r]!]! - m - Math.log(z));
}

function tokenLogProbsGrad(read: (t: tf.TensorInfo) => Float32Array, { logits, targets, dy }: Record<string, tf.TensorInfo>): Float32Array {
  const [l, t, g] = [read(logits!), read(targets!), read(dy!)];
  const V = logits!.shape.at(-1) as number;
  const out = new Float32Array(l.length);
  logitRows(logits!, l).forEach(({ base, m, z }, r) => {
    for (let j = 0; j < V; j++) out[base + j] = g[r]! * ((j === t[r] ? 1 : 0) - Math.exp(l[base + j]! - m) / z);
  });
  return out;
}

function tokenEntropy(read: (t: tf.TensorInfo) => Float32Array, { logits }: Record<string, tf.TensorInfo>): Float32Array {
  const l = read(logits!);
  const V = logits!.shape.at(-1) as number;
  return Float32Array.from(logitRows(logits!, l), ({ base, m, z }) => {
    let weighted = 0;
    for (let j = 0; j < V; j++) weighted += Math.exp(l[base + j]! - m) * (l[base + j]! - m);
    return Math.log(z) - weighted / z;
  });
}

/** The host rule itself (token-choice.ts) for each running row; the pad id for each stopped one. */
function sampleTokens(read: (t: tf.TensorInfo) => Float32Array, { logits, draws, done }: Record<string, tf.TensorInfo>, a: Record<string, number>): Float32Array {
  const [B, V] = logits!.shape as [number, number];
  const [l, stopped] = [read(logits!), read(done!)];
  const u = read(draws!).subarray(a.step! * B, (a.step! + 1) * B);
  const choice = { temperature: a.temperature!, topK: 0, topP: 1 };
  return Float32Array.from(u, (draw, b) => (stopped[b] ? a.padId! : chooseToken(l.subarray(b * V, (b + 1) * V), choice, draw)));
}

/** Each fused kernel in plain JavaScript, by name; also the wasm kernels' fallback (wasm-fused-kernels.ts). */
export const FUSED_KERNELS_JS: Record<string, Compute> = {
  [LAYER_NORM_KERNEL]: layerNorm,
  [MASKED_SOFTMAX_KERNEL]: maskedSoftmax,
  [BIAS_GELU_KERNEL]: biasGelu,
  [APPEND_HEADS_KERNEL]: appendHeads,
  [DECODE_ATTENTION_KERNEL]: decodeAttention,
  [LAYER_NORM_GRAD_KERNEL]: layerNormGrad,
  [LAYER_NORM_GAIN_GRAD_KERNEL]: layerNormGainGrad,
  [BIAS_GELU_GRAD_KERNEL]: biasGeluGrad,
  [ADAM_MOMENT_KERNEL]: adamMoment,
  [ADAMW_STEP_KERNEL]: adamWStep,
  [ATTENTION_PROBS_KERNEL]: attentionProbs,
  [ATTENTION_VALUES_KERNEL]: attentionValues,
  [ATTENTION_GRAD_KERNEL]: attentionGrad,
  [TOKEN_LOGPROBS_KERNEL]: tokenLogProbs,
  [TOKEN_LOGPROBS_GRAD_KERNEL]: tokenLogProbsGrad,
  [TOKEN_ENTROPY_KERNEL]: tokenEntropy,
  [SAMPLE_TOKENS_KERNEL]: sampleTokens,
  [DECODE_LINEAR_KERNEL]: decodeLinear,
};

/** Registers the cpu version of each named fused kernel (default: all of them). */
export function registerCpuFusedKernels(names: readonly string[] = FUSED_KERNELS): void {
  for (const name of names) {
    const compute = FUSED_KERNELS_JS[name];
    if (!compute) throw new Error(`cpu-kernels: no cpu version of "${name}"`);
    tf.registerKernel({
      kernelName: name,
      backendName: 'cpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as unknown as CpuBackend;
        const named = inputs as Record<string, tf.TensorInfo>;
        const values = compute((t) => cpu.readSync(t.dataId), named, attrs as Record<string, number>);
        const dtype = fusedOutputDtype(name);
        return cpu.makeTensorInfo(fusedOutputShape(name, named, attrs as Record<string, unknown>), dtype, dtype === 'int32' ? Int32Array.from(values) : values);
      },
    });
  }
}

/** Takes the cpu versions out again, so that later code runs the composite ops. */
export function unregisterCpuFusedKernels(names: readonly string[] = FUSED_KERNELS): void {
  for (const name of names) if (tf.getKernel(name, 'cpu')) tf.unregisterKernel(name, 'cpu');
}
