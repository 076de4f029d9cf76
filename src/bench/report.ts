/**
 * The benchmark's JSON report and its printed tables. The headline ratios sit at the top level
 * of the JSON so that runs on different machines can be compared at a glance.
 */
import type { InterleavedTiming } from './interleaved';
import type { BenchShapes } from './shapes';
import type { Repeats, Timing } from './timing';
import type { BackendFigures, SizeFigures } from './run-bench';

export interface TorchWorkload extends Timing {
  tokensPerSecond: number;
}

export interface TorchFigures {
  torch: string;
  /** "cpu", or the CUDA GPU's name. */
  device?: string;
  /** torch's intra-op threads. */
  threads: number;
  /** OpenBLAS's own threads for one matmul (null: not OpenBLAS); they, not torch's, run the matmuls. */
  blasThreads?: number | null;
  /** BLAS libraries mapped into the PyTorch process. */
  blas: string[];
  sizes: Array<{ size: string; parameters: number; generateCached: TorchWorkload; generateRecompute: TorchWorkload; update: TorchWorkload }>;
}

/** Our update and PyTorch's timed in alternating blocks (interleaved.ts), or why not. */
export type InterleavedUpdate = (InterleavedTiming & { size: string; torch: TorchSetup }) | { unavailable: string };

/** PyTorch's version, threads and BLAS, as the reference reports them. */
export type TorchSetup = Pick<TorchFigures, 'torch' | 'threads' | 'blasThreads' | 'blas'>;

export interface BenchReport {
  /**
   * The default model's GRPO update: tfjs-wasm time, in the r1-zero preset's micro-batches of 32
   * rows, / PyTorch CPU time (lower is better; target <= 1). The headline figure. From
   * the two timed in alternating blocks where the run did that (`interleaved`), else from each
   * side's own timing (ratio_train_wasm_over_torch_separate).
   */
  ratio_train_wasm_over_torch: number | null;
  /** The same from each side's own timing, minutes apart in the run (the figures in `backends` and `torch`). */
  ratio_train_wasm_over_torch_separate: number | null;
  /**
   * The same with tfjs-wasm's update in one backward pass over all the rows, as the PyTorch
   * reference does it (bench/reference_torch.py): the like-for-like comparison.
   */
  ratio_train_one_batch_wasm_over_torch: number | null;
  /**
   * The headline's update with every row computed whole, its prompt included, as the PyTorch
   * reference computes it: the same arithmetic on both sides but for the output layer, which the
   * engine runs on the scored columns only (otherwise it computes a prompt shared by a group's
   * rows once, shared-prompt.ts).
   */
  ratio_train_whole_rows_wasm_over_torch: number | null;
  /** The default model on wasm: cached tokens/s / recompute tokens/s at shapes.generation.newTokens (target >= 5). */
  ratio_generate_cached_speedup: number | null;
  /** The default model's cached sampling: tfjs-wasm time / PyTorch CPU time. */
  ratio_generate_wasm_over_torch: number | null;
  environment: Record<string, string | number>;
  shapes: BenchShapes;
  repeats: Repeats;
  backends: BackendFigures[];
  torch: TorchFigures | { unavailable: string };
  interleaved: InterleavedUpdate | null;
}

function sizeOn(backends: BackendFigures[], backend: string, size: string): SizeFigures | undefined {
  return backends.find((b) => b.backend === backend)?.sizes.find((s) => s.size === size);
}

export function buildReport(
  backends: BackendFigures[], torch: TorchFigures | { unavailable: string }, shapes: BenchShapes, repeats: Repeats,
  environment: Record<string, string | number>, interleaved: InterleavedUpdate | null = null,
): BenchReport {
  const wasm = sizeOn(backends, 'wasm', 'default');
  const ref = 'sizes' in torch ? torch.sizes.find((s) => s.size === 'default') : undefined;
  const separate = wasm && ref ? wasm.update.medianMs / ref.update.medianMs : null;
  return {
    ratio_train_wasm_over_torch: interleaved && 'ratio' in interleaved && interleaved.size === 'default' ? interleaved.ratio : separate,
    ratio_train_wasm_over_torch_separate: separate,
    ratio_train_one_batch_wasm_over_torch: wasm && ref ? wasm.updateOneBatch.medianMs / ref.update.medianMs : null,
    ratio_train_whole_rows_wasm_over_torch: wasm && ref ? wasm.updateWholeRows.medianMs / ref.update.medianMs : null,
    ratio_generate_cached_speedup: wasm?.cachedSpeedup ?? null,
    ratio_generate_wasm_over_torch: wasm && ref ? wasm.generateCached.medianMs / ref.generateCached.medianMs : null,
    environment, shapes, repeats, backends, torch, interleaved,
  };
}

const mib = (bytes: number | null): string => (bytes === null ? '-' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
const fixed = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined ? '-' : x.toFixed(digits));
const si = (x: number): string => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : `${(x / 1e3).toFixed(1)} k`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function interleavedLines(i: InterleavedUpdate | null): string[] {
  if (!i) return [];
  if (!('ratio' in i)) return [`Interleaved update timing: ${i.unavailable}`];
  const p = i.plan;
  return [
    `Interleaved update timing, ${i.size} model: ${p.rounds} rounds of ${p.block} timed runs a side (after ${p.warmup} untimed), ` +
      `sides alternating: wasm median ${fixed(i.ours.medianMs, 0)} ms (${fixed(i.ours.minMs, 0)}-${fixed(Math.max(...i.ours.samplesMs), 0)}), ` +
      `PyTorch median ${fixed(i.theirs.medianMs, 0)} ms (${fixed(i.theirs.minMs, 0)}-${fixed(Math.max(...i.theirs.samplesMs), 0)}); ` +
      `ratio per round ${i.roundRatios.map((x) => x.toFixed(2)).join(', ')}`,
  ];
}

export function formatReport(r: BenchReport): string {
  const g = r.shapes.generation;
  const u = r.shapes.update;
  const rows: string[][] = [];
  for (const b of r.backends) {
    for (const s of b.sizes) {
      rows.push([
        `${b.backend} ${s.size}`, s.parameters.toLocaleString('en-US'),
        fixed(s.generateCached.tokensPerSecond, 0), fixed(s.generateCachedOnDevice.tokensPerSecond, 0),
        s.generateRecompute ? fixed(s.generateRecompute.tokensPerSecond, 0) : '-', fixed(s.cachedSpeedup),
        fixed(s.update.medianMs, 0), fixed(s.update.tokensPerSecond, 0), `${si(s.update.flopsPerSecond)}FLOP/s`,
        s.update.kernels === null ? '-' : String(s.update.kernels), mib(s.update.peakBytes),
        fixed(s.updateOneBatch.medianMs, 0), mib(s.updateOneBatch.peakBytes), fixed(s.updateWholeRows.medianMs, 0),
      ]);
    }
  }
  if ('sizes' in r.torch) {
    for (const s of r.torch.sizes) {
      rows.push([`torch ${s.size}`, s.parameters.toLocaleString('en-US'), fixed(s.generateCached.tokensPerSecond, 0), '', fixed(s.generateRecompute.tokensPerSecond, 0),
        fixed(s.generateCached.tokensPerSecond / s.generateRecompute.tokensPerSecond), fixed(s.update.medianMs, 0), fixed(s.update.tokensPerSecond, 0), '', '', '', '', '', '']);
    }
  }
  const out = [
    `Sampling: ${g.rows} rows x ${g.newTokens} new tokens after a ${g.promptTokens}-token prompt, tokens chosen on the host ` +
      `(one readback per token) or on the device (one per call; "device tok/s"). ` +
      `GRPO update: ${u.rows} rows of ${u.promptTokens} + ${u.completionTokens} tokens, ${u.rows / u.groupSize} prompts x ${u.groupSize} (forward, backward, clipping, AdamW), ` +
      `in the r1-zero preset's micro-batches, in one batch ("one-batch"), and in micro-batches with every row computed whole, its prompt included ("whole-rows"; ` +
      `the engine computes a group's shared prompt once, PyTorch computes every row). Peak memory: tfjs tensors, weights included. Medians of ${r.repeats.repeats} runs after ${r.repeats.warmup} warm-up.`,
    '',
    table(['backend / size', 'params', 'cached tok/s', 'device tok/s', 'recompute tok/s', 'speedup', 'update ms', 'update tok/s', 'model FLOP/s', 'kernels', 'peak memory', 'one-batch ms', 'one-batch peak', 'whole-rows ms'], rows),
  ];
  const steps = r.backends.filter((b) => b.grpoStep);
  if (steps.length > 0) {
    out.push('', 'r1-zero preset, whole GRPO steps from the shipped base model (median seconds):', '');
    out.push(table(['backend', 'step', 'generate', 'score', 'reference', 'update', 'tokens/step'], steps.map((b) => {
      const s = b.grpoStep!;
      return [b.backend, fixed(s.stepSeconds, 2), fixed(s.generateSeconds, 2), fixed(s.scoreSeconds, 3), fixed(s.referenceSeconds, 2), fixed(s.updateSeconds, 2), fixed(s.completionTokensPerStep, 0)];
    })));
  }
  for (const b of r.backends) {
    if (b.leak) out.push('', `${b.backend}: ${b.leak.steps} tiny GRPO steps, tensors ${b.leak.tensorsBefore} -> ${b.leak.tensorsAfter}, bytes ${b.leak.bytesBefore} -> ${b.leak.bytesAfter}`);
  }
  out.push('');
  if ('sizes' in r.torch) {
    const blasThreads = r.torch.blasThreads == null ? '' : `, OpenBLAS ${r.torch.blasThreads} thread(s)`;
    out.push(`PyTorch ${r.torch.torch}, ${r.torch.threads} intra-op thread(s)${blasThreads}, BLAS: ${r.torch.blas.join(', ') || 'none mapped'}`);
  }
  else out.push(`PyTorch reference: ${r.torch.unavailable}`);
  out.push(...interleavedLines(r.interleaved));
  out.push(
    `ratio_train_wasm_over_torch ${fixed(r.ratio_train_wasm_over_torch, 2)} (target <= 1${r.interleaved && 'ratio' in r.interleaved ? ', interleaved' : ''})`,
    `ratio_train_wasm_over_torch_separate ${fixed(r.ratio_train_wasm_over_torch_separate, 2)} (each side timed on its own, minutes apart)`,
    `ratio_train_one_batch_wasm_over_torch ${fixed(r.ratio_train_one_batch_wasm_over_torch, 2)} (both in one backward pass, as PyTorch's reference runs)`,
    `ratio_train_whole_rows_wasm_over_torch ${fixed(r.ratio_train_whole_rows_wasm_over_torch, 2)} (every row computed whole, shared prompts included, as PyTorch's reference computes them)`,
    `ratio_generate_cached_speedup ${fixed(r.ratio_generate_cached_speedup, 2)} (target >= 5)`,
    `ratio_generate_wasm_over_torch ${fixed(r.ratio_generate_wasm_over_torch, 2)}`,
  );
  return out.join('\n');
}
