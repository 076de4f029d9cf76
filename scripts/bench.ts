/**
 * npm run bench — speed and memory of the engine on Node's tfjs backends (cpu, wasm), beside a
 * PyTorch CPU reference of the same model and update timed in the same run (so the ratio holds
 * on a noisy machine). Prints tables; --json FILE writes every figure (see src/bench/report.ts).
 * The browser backends (wasm, webgpu in Chromium) have their own entry: npm run bench:browser.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import { DEFAULT_WASM_THREADS, NODE_BACKENDS, tf, useBackend } from '../src/node/tfjs-node';
import { type ModelSizeName, MODEL_SIZES } from '../src/engine/model-config';
import { BIAS_GELU_GRAD_KERNEL } from '../src/engine/fused/bias-gelu';
import { ATTENTION_KERNELS } from '../src/engine/fused/attention';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from '../src/engine/fused/decode-attention';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL } from '../src/engine/fused/layer-norm';
import { TOKEN_STATS_KERNELS } from '../src/engine/fused/token-stats';
import { Tokenizer } from '../src/engine/tokenizer';
import { type BackendFigures, runBench } from '../src/bench/run-bench';
import { type InterleavedUpdate, buildReport, formatReport } from '../src/bench/report';
import { BENCH_SIZES, DEFAULT_SHAPES, QUICK_SHAPES, benchModelConfig } from '../src/bench/shapes';
import type { Repeats } from '../src/bench/timing';
import { benchUpdateInterleaved } from '../src/bench/workloads';
import { getPreset } from '../src/engine/presets';
import { type TorchThreads, runTorchReference, startTorchUpdateServer } from './torch-reference';
import { intFlag, intListFlag, listFlag, loadCheckpoint, parseOrExit } from './cli-common';

/**
 * With our SIMD batched matmul and fused kernels (the lab's setting), with the matmul alone (the
 * fused ops as composite tfjs ops), with everything but the decode-step attention kernels
 * (sampling's attention as composite ops), but the backward-pass kernels (the fused ops'
 * gradients as tfjs ops), but the whole-sequence attention (training's and scoring's) or but
 * the token log-probability and entropy kernels, or with tfjs-wasm's own BatchMatMul and the composite ops.
 */
const WASM_KERNELS = ['on', 'no-decode', 'no-backward', 'no-attention', 'no-token-stats', 'matmul', 'off'] as const;
type WasmKernels = (typeof WASM_KERNELS)[number];
/** The report's names for wasm runs without some of our kernels; 'wasm' (its ratios) stays the lab's setting. */
const WASM_LABELS: Record<WasmKernels, string> = {
  on: 'wasm',
  'no-decode': 'wasm, no decode-step kernels',
  'no-backward': 'wasm, no backward kernels',
  'no-attention': 'wasm, no whole-sequence attention kernels',
  'no-token-stats': 'wasm, no token log-prob and entropy kernels',
  matmul: 'wasm, no fused kernels',
  off: 'wasm, tfjs BatchMatMul',
};
/** The fused kernels each variant leaves out of an otherwise full install. */
const LEFT_OUT: Partial<Record<WasmKernels, string[]>> = {
  'no-decode': [APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL],
  'no-backward': [LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL, BIAS_GELU_GRAD_KERNEL],
  'no-attention': [...ATTENTION_KERNELS],
  'no-token-stats': [...TOKEN_STATS_KERNELS],
};

/** A wasm run's name: its kernels, and its matmul threads when not the default (every core). */
function wasmLabel(kernels: WasmKernels, threads: number): string {
  if (kernels === 'off' || threads === DEFAULT_WASM_THREADS) return WASM_LABELS[kernels];
  return `${WASM_LABELS[kernels]}, ${threads} thread${threads === 1 ? '' : 's'}`;
}

interface Options {
  backends: string[]; wasmKernels: WasmKernels[]; sizes: ModelSizeName[]; quick: boolean; warmup: number; repeats: number;
  wasmThreads: number[]; grpoSteps: number; leakSteps: number; torch: boolean; torchThreads?: number; torchBlasThreads?: number;
  interleavedRounds: number; json?: string; checkpoint: string;
}

const program = new Command()
  .name('bench')
  .description('Benchmark sampling and GRPO updates on the Node backends, against PyTorch on the CPU')
  .option('--backends <list>', `comma-separated (${NODE_BACKENDS.join(', ')})`, listFlag('backends', NODE_BACKENDS), [...NODE_BACKENDS])
  .option('--wasm-kernels <list>', "on: wasm with our SIMD batched matmul and fused kernels; no-decode / no-backward / no-attention / no-token-stats: all but the decode-step attention / the backward-pass kernels / the whole-sequence attention / the token log-prob and entropy kernels; matmul: our matmul only; off: tfjs-wasm's own kernels; e.g. matmul,on: both in one run (A/B)", listFlag('wasm-kernels', WASM_KERNELS), ['on'])
  .option('--wasm-threads <list>', `threads sharing a large wasm matmul, this one included (default ${DEFAULT_WASM_THREADS}: every core); e.g. 1,${DEFAULT_WASM_THREADS}: both in one run (A/B)`, intListFlag('wasm-threads', 1), [DEFAULT_WASM_THREADS])
  .option('--sizes <list>', `comma-separated model sizes (${BENCH_SIZES.join(', ')})`, listFlag('sizes', Object.keys(MODEL_SIZES) as ModelSizeName[]), ['small', 'default'])
  .option('--quick', 'small shapes, one repeat: a smoke test in seconds, not a measurement', false)
  .option('--warmup <n>', 'untimed runs before timing', intFlag('warmup'), 1)
  .option('--repeats <n>', 'timed runs (the median is reported)', intFlag('repeats', 1), 3)
  .option('--grpo-steps <n>', 'timed r1-zero steps from the shipped base model (0 skips)', intFlag('grpo-steps'), 3)
  .option('--leak-steps <n>', 'tiny GRPO steps for the tensor-leak check (0 skips)', intFlag('leak-steps'), 1000)
  .option('--no-torch', 'skip the PyTorch reference')
  .option('--torch-threads <n>', "PyTorch's intra-op threads (default: its own choice)", intFlag('torch-threads', 1))
  .option('--torch-blas-threads <n>', "OpenBLAS's threads, which run PyTorch's matmuls (default: its own choice, every core)", intFlag('torch-blas-threads', 1))
  .option('--interleaved-rounds <n>', "rounds of the default model's update timed in blocks alternating with PyTorch's, the headline ratio's source (0 skips)", intFlag('interleaved-rounds'), 15)
  .option('--checkpoint <file>', 'the base model for the r1-zero steps', 'public/checkpoints/base.json')
  .option('--json <file>', 'write every figure to this JSON file')
  .showHelpAfterError()
  .exitOverride();

/**
 * The default model's update on the active backend (wasm) and PyTorch's, timed in alternating
 * blocks of `repeats.repeats` runs (interleaved.ts) while both are set up, so that the headline
 * ratio compares the two on the same minutes of a noisy machine.
 */
async function interleavedUpdate(
  tokenizer: Tokenizer, plan: Repeats & { rounds: number }, threads: TorchThreads, log: (line: string) => void,
): Promise<InterleavedUpdate> {
  log(`default: the GRPO update, ${plan.rounds} rounds alternating with PyTorch's`);
  const shapes = DEFAULT_SHAPES;
  const server = await startTorchUpdateServer(benchModelConfig('default', tokenizer.size, shapes), shapes, threads);
  if ('unavailable' in server) return server;
  try {
    const timing = await benchUpdateInterleaved(tokenizer, shapes, 'default', getPreset('r1-zero').config, server.timeUpdate,
      { rounds: plan.rounds, block: plan.repeats, warmup: Math.max(1, plan.warmup) });
    return { size: 'default', torch: server.setup, ...timing };
  } catch (e) {
    // The rest of the run's figures are still worth writing.
    return { unavailable: (e as Error).message };
  } finally {
    server.close();
  }
}

async function main(): Promise<void> {
  const o = parseOrExit<Options>(program);
  const shapes = o.quick ? QUICK_SHAPES : DEFAULT_SHAPES;
  const repeats = o.quick ? { warmup: 0, repeats: 1 } : { warmup: o.warmup, repeats: o.repeats };
  const tokenizer = new Tokenizer();
  const baseWeights = o.grpoSteps > 0 ? loadCheckpoint(o.checkpoint, tokenizer.vocab).weights : undefined;
  const log = (line: string): void => { process.stderr.write(`  ${line}\n`); };

  const torchThreads: TorchThreads = {
    ...(o.torchThreads ? { threads: o.torchThreads } : {}), ...(o.torchBlasThreads ? { blasThreads: o.torchBlasThreads } : {}),
  };
  let interleaved: InterleavedUpdate | null = null;
  const backends: BackendFigures[] = [];
  const runs = o.backends.flatMap((name) => (name === 'wasm'
    ? o.wasmKernels.flatMap((kernels) => (kernels === 'off' ? [1] : o.wasmThreads).map((threads) => ({ name, kernels, threads })))
    : [{ name, kernels: 'on' as const, threads: 1 }]));
  for (const { name, kernels, threads } of runs) {
    await useBackend(name, { wasmKernels: kernels !== 'off', wasmFused: kernels !== 'off' && kernels !== 'matmul', wasmThreads: threads });
    for (const kernel of LEFT_OUT[kernels] ?? []) tf.unregisterKernel(kernel, 'wasm');
    const label = name === 'wasm' ? wasmLabel(kernels, threads) : name;
    log(`backend ${label}`);
    const figures = await runBench(tokenizer, {
      sizes: o.sizes, shapes, repeats, log, baseWeights,
      // Full recompute on plain JavaScript takes minutes per run even for the small model.
      skipRecompute: name === 'cpu' && !o.quick ? [...o.sizes] : [],
      grpoSteps: o.quick ? 0 : o.grpoSteps,
      leakSteps: o.quick ? Math.min(o.leakSteps, 20) : o.leakSteps,
    });
    backends.push({ ...figures, backend: label });
    if (label === WASM_LABELS.on && o.sizes.includes('default') && o.torch && o.interleavedRounds > 0 && !o.quick) {
      interleaved = await interleavedUpdate(tokenizer, { ...repeats, rounds: o.interleavedRounds }, torchThreads, log);
    }
    tf.disposeVariables();
  }
  log('PyTorch reference');
  const torch = o.torch
    ? runTorchReference(o.sizes.map((s) => benchModelConfig(s, tokenizer.size, shapes)), shapes, repeats, torchThreads)
    : { unavailable: 'skipped (--no-torch)' };
  const environment = {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, wasmThreads: DEFAULT_WASM_THREADS,
    tfjs: tf.version_core, date: new Date().toISOString(),
  };
  const report = buildReport(backends, torch, shapes, repeats, environment, interleaved);
  console.log(formatReport(report));
  if (o.json) {
    writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`wrote ${o.json}`);
  }
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
