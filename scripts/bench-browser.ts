/**
 * npm run bench:browser — the benchmark in Chromium (Debian's, through Playwright) on the
 * browser's backends: wasm and webgpu. A Vite dev server serves bench/browser.html, which runs
 * the same workloads as `npm run bench` (src/bench). On a software WebGPU adapter (SwiftShader:
 * machines without a GPU) webgpu runs the quick shapes on the small sizes only, unless --full.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';
import type { BrowserBackend } from '../bench/bench.worker';
import type { BackendFigures } from '../src/bench/run-bench';
import type { BackendName } from '../workers/protocol';
import { type ModelSizeName, MODEL_SIZES } from '../src/engine/model-config';
import { buildReport, formatReport } from '../src/bench/report';
import { DEFAULT_SHAPES, QUICK_SHAPES } from '../src/bench/shapes';
import type { BenchPlan } from '../src/bench/run-bench';
import { intFlag, listFlag, parseOrExit } from './cli-common';

const BROWSER_BACKENDS: readonly BackendName[] = ['wasm', 'webgpu'];
const PORT = 5199;

interface Options {
  backends: BackendName[]; sizes: ModelSizeName[]; quick: boolean; full: boolean; repeats: number;
  grpoSteps: number; leakSteps: number; json?: string; chromium: string;
}

const program = new Command()
  .name('bench:browser')
  .description('Benchmark sampling and GRPO updates in Chromium on wasm and webgpu')
  .option('--backends <list>', `comma-separated (${BROWSER_BACKENDS.join(', ')})`, listFlag('backends', BROWSER_BACKENDS), [...BROWSER_BACKENDS])
  .option('--sizes <list>', 'comma-separated model sizes', listFlag('sizes', Object.keys(MODEL_SIZES) as ModelSizeName[]), ['small', 'default'])
  .option('--quick', 'small shapes, one repeat: a smoke test, not a measurement', false)
  .option('--full', 'run the full plan on webgpu even on a software adapter (slow)', false)
  .option('--repeats <n>', 'timed runs (the median is reported)', intFlag('repeats', 1), 3)
  .option('--grpo-steps <n>', 'timed r1-zero steps from the shipped base model (0 skips)', intFlag('grpo-steps'), 3)
  .option('--leak-steps <n>', 'tiny GRPO steps for the tensor-leak check (0 skips)', intFlag('leak-steps'), 1000)
  .option('--chromium <path>', 'Chromium executable', process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')
  .option('--json <file>', 'write every figure to this JSON file')
  .showHelpAfterError()
  .exitOverride();

type PagePlan = Omit<BenchPlan, 'baseWeights' | 'log'>;

/**
 * What the page runs on a backend. On a software adapter webgpu runs the quick plan, with 50 leak
 * steps unless --leak-steps was given (1,000 tiny steps there took about 10 minutes on 2 cores).
 */
function planFor(o: Options, softwareGpu: boolean, backend: BackendName, leakStepsGiven: boolean): { plan: PagePlan; note?: string } {
  const software = backend === 'webgpu' && softwareGpu && !o.full;
  const quick = o.quick || software;
  const plan: PagePlan = {
    sizes: quick && !o.quick ? o.sizes.filter((s) => s !== 'default') : o.sizes,
    shapes: quick ? QUICK_SHAPES : DEFAULT_SHAPES,
    repeats: quick ? { warmup: 1, repeats: 1 } : { warmup: 1, repeats: o.repeats },
    grpoSteps: quick ? 0 : o.grpoSteps,
    leakSteps: quick && !(software && leakStepsGiven) ? Math.min(o.leakSteps, 50) : o.leakSteps,
  };
  const q = QUICK_SHAPES;
  const note = quick && !o.quick
    ? `webgpu is a software adapter here: its row uses the quick shapes (sampling ${q.generation.rows} x ${q.generation.newTokens} tokens, ` +
      `update ${q.update.rows} rows of ${q.update.promptTokens} + ${q.update.completionTokens}), no default size, ${plan.leakSteps} leak steps (--full for all)`
    : undefined;
  return { plan, ...(note ? { note } : {}) };
}

async function main(): Promise<void> {
  const o = parseOrExit<Options>(program);
  const leakStepsGiven = program.getOptionValueSource('leakSteps') === 'cli';
  // No HMR: an edit under src/ would otherwise reload the page and end a long run.
  const server = await createServer({ server: { port: PORT, strictPort: true, hmr: false }, logLevel: 'error' });
  await server.listen();
  const browser = await chromium.launch({ executablePath: o.chromium, args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run'] });
  try {
    const runs: Array<BrowserBackend & { figures: BackendFigures; plan: PagePlan; note?: string }> = [];
    for (const backend of o.backends) {
      const page = await browser.newPage();
      page.on('console', (m) => { if (m.text().startsWith('[bench]')) process.stderr.write(`  ${backend}: ${m.text().slice(8)}\n`); });
      await page.goto(`http://localhost:${PORT}/bench/browser.html`);
      await page.waitForFunction(() => 'grpoBench' in window, undefined, { timeout: 60_000 });
      const started = await page.evaluate((b) => window.grpoBench.init(b), backend);
      const { plan, note } = planFor(o, started.fallbackAdapter, backend, leakStepsGiven);
      if (note) process.stderr.write(`  ${note}\n`);
      const figures = await page.evaluate((p) => window.grpoBench.run(p), plan);
      runs.push({ ...started, figures, plan, ...(note ? { note } : {}) });
      await page.close();
    }
    const figures = runs.map((r) => r.figures);
    const first = runs[0]?.plan ?? planFor(o, false, 'wasm', leakStepsGiven).plan;
    const report = buildReport(figures, { unavailable: 'not part of the browser run (npm run bench times PyTorch)' }, first.shapes, first.repeats, {
      browser: `Chromium ${browser.version()}`, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length,
      ...Object.fromEntries(runs.map((r) => [`adapter_${r.figures.backend}`, `${r.adapter}${r.fallbackAdapter ? ' (fallback adapter)' : ''}`])),
      ...Object.fromEntries(runs.filter((r) => r.note).map((r) => [`note_${r.figures.backend}`, r.note as string])),
      date: new Date().toISOString(),
    });
    console.log(formatReport(report));
    for (const r of runs) console.log(`${r.figures.backend}: ${r.adapter}${r.note ? ` (${r.note})` : ''}`);
    if (o.json) {
      writeFileSync(o.json, JSON.stringify({ ...report, plans: Object.fromEntries(runs.map((r) => [r.figures.backend, r.plan])) }, null, 2) + '\n');
      console.log(`wrote ${o.json}`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
