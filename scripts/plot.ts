/**
 * Plots training metrics (JSONL, one object per line) as static SVG charts, plus one combined PNG.
 *
 *   npm run plot -- runs/x.jsonl [more.jsonl ...] [--out dir] [--title text] [--smooth N]
 *
 * Figures: reward (total and per reward function), accuracy (eval pass@1, eval pass@1 with any
 * format, train accuracy reward), mean completion length, KL to the reference policy. Several
 * files overlay: one colour per file, one dash pattern per metric.
 *
 * Why hand-written SVG: recharts 3 renders an empty <div> under react-dom/server (its layout
 * runs in effects; recharts/recharts#5997, #6139), so the charts are drawn here directly. The
 * PNG comes from @resvg/resvg-js when it is installed (prebuilt binary from npm, no browser).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { FIGURES } from './plot/figures';
import { readMetricsFile } from './plot/metrics';
import { combinedSvg, panelSvg, renderPanel } from './plot/svg';

async function svgToPng(svg: string): Promise<Buffer | undefined> {
  let Resvg: typeof import('@resvg/resvg-js').Resvg;
  try {
    ({ Resvg } = await import('@resvg/resvg-js'));
  } catch {
    return undefined;
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('plot')
    .description('Plot GRPO Lab metrics (JSONL) as SVG figures and one combined PNG.')
    .argument('<metrics...>', 'metrics JSONL files; several overlay as separate series')
    .option('--out <dir>', 'output folder (default: the first file\'s folder)')
    .option('--name <stem>', 'output file name stem (default: the file names joined by +)')
    .option('--title <text>', 'title of the combined figure (default: the file names)')
    .option('--smooth <n>', 'moving average over n logged points for training series (eval points are never smoothed)', positiveInt, 1)
    .option('--no-png', 'write SVG only')
    .showHelpAfterError();
  program.parse(argv, { from: 'user' });
  const files = program.args;
  const opts = program.opts<{ out?: string; name?: string; title?: string; smooth: number; png: boolean }>();

  const runs = files.map(readMetricsFile);
  const first = files[0]!;
  const outDir = opts.out ?? path.dirname(first);
  const stem = opts.name ?? runs.map((r) => r.label).join('+');
  const title = opts.title ?? runs.map((r) => r.label).join(' vs ');
  mkdirSync(outDir, { recursive: true });

  const written: string[] = [];
  const panels = FIGURES.map((figure) => {
    const panel = renderPanel(figure, runs, opts.smooth);
    const file = path.join(outDir, `${stem}.${figure.id}.svg`);
    writeFileSync(file, panelSvg(panel));
    written.push(file);
    return panel;
  });
  const combined = combinedSvg(panels, title);
  const combinedFile = path.join(outDir, `${stem}.svg`);
  writeFileSync(combinedFile, combined);
  written.push(combinedFile);

  if (opts.png) {
    const png = await svgToPng(combined);
    if (png) {
      const pngFile = path.join(outDir, `${stem}.png`);
      writeFileSync(pngFile, png);
      written.push(pngFile);
    } else {
      console.warn('plot: @resvg/resvg-js is not installed; wrote SVG only');
    }
  }
  for (const file of written) console.log(file);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`plot: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
