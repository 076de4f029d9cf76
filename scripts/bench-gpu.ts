/**
 * npm run bench:gpu — the engine on a real GPU through WebGPU in Node (Dawn, the WebGPU
 * implementation inside Chromium; see src/node/tfjs-webgpu-node.ts), beside PyTorch on the same
 * GPU with CUDA when it is there.
 *
 * It times square matmuls (the backend's best case, src/bench/matmul-throughput.ts), then the
 * benchmark's own workloads (src/bench/workloads.ts, which read back with await, as Dawn in Node
 * requires): sampling with tokens chosen on the device, one GRPO update, whole r1-zero steps, and
 * a tensor-leak check over tiny steps. With --peak-tflops (the adapter's float32 peak, which
 * WebGPU does not report) the FLOP/s are also given as a share of it.
 *
 * Needs the Dawn bindings: npm install --no-save webgpu (and a Vulkan driver).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import { NODE_BACKENDS, tf, useBackend } from '../src/node/tfjs-node';
import { useNodeWebGPU } from '../src/node/tfjs-webgpu-node';
import { WEBGPU_KERNELS } from '../src/engine/fused/kernels';
import { GPT } from '../src/engine/model';
import { type ModelSizeName, MODEL_SIZES, modelSize } from '../src/engine/model-config';
import { getPreset } from '../src/engine/presets';
import type { GrpoConfig } from '../src/engine/config';
import { describeMicroBatchLimit, microBatchLimitOn } from '../src/engine/micro-batch-rows';
import { Tokenizer } from '../src/engine/tokenizer';
import { matmulThroughput } from '../src/bench/matmul-throughput';
import { type BenchShapes, DEFAULT_SHAPES, QUICK_SHAPES, benchModelConfig } from '../src/bench/shapes';
import type { Repeats } from '../src/bench/timing';
import type { TorchFigures } from '../src/bench/report';
import { type LeakCheck, type StepSplit, benchGeneration, benchGrpoSteps, benchUpdate, checkTensorLeak, updateConfig } from '../src/bench/workloads';
import { runTorchReference } from './torch-reference';
import { intFlag, listFlag, loadCheckpoint, parseOrExit } from './cli-common';

interface Options {
  backend: string; sizes: ModelSizeName[]; matmul: string[]; quick: boolean; warmup: number; repeats: number;
  leakSteps: number; grpoSteps: number; stepMicroBatches: Array<GrpoConfig['microBatchRows']>; checkpoint: string; torch: boolean; fused: boolean; leaveOut: string[]; tfFlag: string[]; peakTflops?: number; json?: string;
}

const program = new Command()
  .name('bench:gpu')
  .description('Benchmark the engine on a GPU through WebGPU in Node (Dawn), against PyTorch with CUDA')
  .option('--backend <name>', `webgpu, or ${NODE_BACKENDS.join(' or ')} to try the script where no GPU is`, 'webgpu')
  .option('--sizes <list>', 'comma-separated model sizes', listFlag('sizes', Object.keys(MODEL_SIZES) as ModelSizeName[]), ['small', 'default'])
  .option('--matmul <list>', 'square matmul sizes', (v: string) => v.split(','), ['512', '1024', '2048', '4096'])
  .option('--quick', 'small shapes, one repeat: a smoke test, not a measurement', false)
  .option('--warmup <n>', 'untimed runs before timing', intFlag('warmup'), 2)
  .option('--repeats <n>', 'timed runs (the median is reported)', intFlag('repeats', 1), 5)
  .option('--leak-steps <n>', 'tiny GRPO steps for the tensor-leak check (0 skips)', intFlag('leak-steps'), 1000)
  .option('--grpo-steps <n>', 'timed r1-zero steps from the shipped base model (0 skips)', intFlag('grpo-steps'), 3)
  .option('--step-micro-batches <list>', "micro-batch rows for the r1-zero steps, each timed from the base model: 'auto' (the preset's), or rows (0: one batch)",
    (v: string) => v.split(',').map((x) => (x === 'auto' ? 'auto' as const : intFlag('step-micro-batches')(x))), ['auto'])
  .option('--checkpoint <file>', 'the base model for the r1-zero steps', 'public/checkpoints/base.json')
  .option('--no-torch', 'skip the PyTorch CUDA reference')
  .option('--no-fused', "leave out the engine's own fused kernels (src/engine/fused), to measure what they save")
  .option('--leave-out <kernels>', `leave out only these fused kernels (comma-separated: ${WEBGPU_KERNELS.join(', ')})`, listFlag('leave-out', WEBGPU_KERNELS), [])
  .option('--tf-flag <name=value>', 'set a tfjs environment flag before timing (repeatable), e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=60',
    (v: string, all: string[]) => [...all, v], [])
  .option('--peak-tflops <x>', "the adapter's float32 peak in TFLOP/s, to report FLOP/s as a share of it", (v: string) => {
    const x = Number(v);
    if (!(x > 0)) throw new Error(`--peak-tflops: must be a positive number (got "${v}")`);
    return x;
  })
  .option('--json <file>', 'write every figure to this JSON file')
  .showHelpAfterError()
  .exitOverride();

/** The micro-batch rows the update is also timed in, against one batch. */
const MICRO_BATCH_ROWS_COMPARED = 32;

/** The r1-zero preset's rollout: every group's rows decoded together, at its completion length. */
function rolloutShape(): BenchShapes['generation'] {
  const p = getPreset('r1-zero').config;
  return { rows: p.promptsPerStep * p.groupSize, promptTokens: 12, newTokens: p.maxCompletionLength };
}

function share(f: { flopsPerSecond: number }, peakTflops?: number): string {
  const tflops = f.flopsPerSecond / 1e12;
  return `${tflops.toFixed(3)} TFLOP/s${peakTflops ? ` (${((100 * tflops) / peakTflops).toFixed(2)}% of peak)` : ''}`;
}

async function benchSize(size: ModelSizeName, tokenizer: Tokenizer, shapes: BenchShapes, repeats: Repeats, log: (s: string) => void, peak?: number) {
  const model = GPT.create(benchModelConfig(size, tokenizer.size, shapes), 1);
  const onDevice = { kvCache: true, tokenChoice: 'device' } as const;
  try {
    const generate = await benchGeneration(model, tokenizer, shapes, onDevice, repeats);
    log(`${size} generate ${shapes.generation.rows}x${shapes.generation.newTokens}: ${generate.tokensPerSecond.toFixed(0)} tok/s, ${generate.medianMs.toFixed(1)} ms, ${share(generate, peak)}`);
    const rollout = await benchGeneration(model, tokenizer, { ...shapes, generation: rolloutShape() }, onDevice, repeats);
    log(`${size} rollout ${rolloutShape().rows}x${rolloutShape().newTokens}: ${rollout.tokensPerSecond.toFixed(0)} tok/s, ${rollout.medianMs.toFixed(1)} ms, ${share(rollout, peak)}`);
    // Micro-batches of 32 rows against one batch, which 'auto' chooses on WebGPU.
    const preset = { ...updateConfig(getPreset('r1-zero').config, shapes), microBatchRows: MICRO_BATCH_ROWS_COMPARED };
    const update = await benchUpdate(model, tokenizer, shapes, preset, repeats);
    log(`${size} update (micro-batches of ${preset.microBatchRows}): ${update.medianMs.toFixed(1)} ms, ${share(update, peak)}`);
    const updateOneBatch = await benchUpdate(model, tokenizer, shapes, { ...preset, microBatchRows: 0 }, repeats);
    log(`${size} update (one batch): ${updateOneBatch.medianMs.toFixed(1)} ms, ${share(updateOneBatch, peak)}`);
    return { size, parameters: model.parameterCount, generate, rollout, update, updateOneBatch };
  } finally {
    model.dispose();
  }
}

/** Sets each NAME=VALUE on tf.env(), keeping the flag's type (number, boolean or string). */
function setTfFlags(pairs: string[]): Record<string, number | boolean | string> {
  const set: Record<string, number | boolean | string> = {};
  for (const pair of pairs) {
    const [name, raw] = pair.split('=');
    if (!name || raw === undefined) throw new Error(`--tf-flag: expected NAME=VALUE (got "${pair}")`);
    let current: unknown;
    try {
      current = tf.env().get(name);
    } catch {
      throw new Error(`--tf-flag: "${name}" is not a tfjs flag of this backend (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE)`);
    }
    const value = typeof current === 'number' ? Number(raw) : typeof current === 'boolean' ? raw === 'true' : raw;
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`--tf-flag ${name}: must be a number (got "${raw}")`);
    tf.env().set(name, value);
    set[name] = value;
  }
  return set;
}

async function main(): Promise<void> {
  const o = parseOrExit<Options>(program);
  const log = (line: string): void => { process.stderr.write(`  ${line}\n`); };
  const shapes = o.quick ? QUICK_SHAPES : DEFAULT_SHAPES;
  const repeats: Repeats = o.quick ? { warmup: 1, repeats: 1 } : { warmup: o.warmup, repeats: o.repeats };
  const adapter = o.backend === 'webgpu' ? await useNodeWebGPU() : { backend: await useBackend(o.backend) };
  const leftOut = o.fused ? o.leaveOut : WEBGPU_KERNELS;
  for (const name of leftOut) if (tf.getKernel(name, 'webgpu')) tf.unregisterKernel(name, 'webgpu');
  const flags = setTfFlags(o.tfFlag);
  log(`adapter: ${JSON.stringify(adapter)}${Object.keys(flags).length ? `, tfjs flags ${JSON.stringify(flags)}` : ''}`);
  const tokenizer = new Tokenizer();

  const matmul = [];
  for (const n of o.matmul.map(Number)) {
    const f = await matmulThroughput(n, 8, repeats);
    log(`matmul ${n}x${n}: ${f.medianMs.toFixed(2)} ms for 8, ${share(f, o.peakTflops)}`);
    matmul.push(f);
  }
  const sizes: Array<Awaited<ReturnType<typeof benchSize>>> = [];
  const report = {
    backend: o.backend === 'webgpu' ? 'webgpu (Dawn in Node)' : o.backend, adapter,
    tfjsFlags: flags, fusedKernels: WEBGPU_KERNELS.filter((name) => !leftOut.includes(name)), peakTflops: o.peakTflops ?? null, shapes, repeats,
    environment: { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, tfjs: tf.version_core },
    matmul, sizes, torch: null as TorchFigures | { unavailable: string } | null, leak: null as LeakCheck | null,
    grpoSteps: [] as Array<StepSplit & { microBatchRows: GrpoConfig['microBatchRows'] }>,
  };
  // Written after every phase, so that a run cut short still leaves what it measured.
  const save = (): void => { if (o.json) writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`); };
  for (const size of o.sizes) {
    sizes.push(await benchSize(size, tokenizer, shapes, repeats, log, o.peakTflops));
    save();
  }

  if (o.grpoSteps > 0) {
    for (const microBatchRows of o.stepMicroBatches) {
      const config = { ...getPreset('r1-zero').config, microBatchRows };
      const model = new GPT(modelSize(config.model, tokenizer.size), loadCheckpoint(o.checkpoint, tokenizer.vocab).weights);
      const g = await benchGrpoSteps(model, tokenizer, config, { warmup: 1, repeats: o.grpoSteps });
      model.dispose();
      report.grpoSteps.push({ microBatchRows, ...g });
      log(`r1-zero step from the base model, ${describeMicroBatchLimit(microBatchLimitOn(microBatchRows, tf.getBackend()))}: ${g.stepSeconds.toFixed(2)} s (generate ${g.generateSeconds.toFixed(2)}, score ${g.scoreSeconds.toFixed(3)}, reference ${g.referenceSeconds.toFixed(2)}, update ${g.updateSeconds.toFixed(2)})`);
      save();
    }
  }

  const models = o.sizes.map((s) => benchModelConfig(s, tokenizer.size, shapes));
  const torch = o.torch ? runTorchReference(models, shapes, repeats, {}, 'cuda') : { unavailable: 'skipped (--no-torch)' };
  report.torch = torch;
  save();
  if ('sizes' in torch) {
    for (const t of torch.sizes) {
      const ours = sizes.find((s) => s.size === t.size);
      log(`torch ${torch.device ?? ''} ${t.size}: generate ${t.generateCached.tokensPerSecond.toFixed(0)} tok/s, update ${t.update.medianMs.toFixed(1)} ms` +
        (ours ? ` (webgpu / torch update time: ${(ours.update.medianMs / t.update.medianMs).toFixed(2)})` : ''));
    }
  } else log(`torch: ${torch.unavailable}`);

  if (o.leakSteps > 0) {
    const config = getPreset('tiny').config;
    const model = GPT.create(modelSize(config.model, tokenizer.size), 3);
    const leak = await checkTensorLeak(model, tokenizer, config, o.quick ? Math.min(o.leakSteps, 20) : o.leakSteps);
    model.dispose();
    log(`leak check, ${leak.steps} tiny GRPO steps: tensors ${leak.tensorsBefore} -> ${leak.tensorsAfter}, bytes ${leak.bytesBefore} -> ${leak.bytesAfter}`);
    report.leak = leak;
    save();
  }
  if (!o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench:gpu: ${(error as Error).message}\n`);
  process.exit(1);
});
