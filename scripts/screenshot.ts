/**
 * npm run screenshot — the lab mid-training, as README.md shows it.
 * Needs the app served (npm run build && npm run preview); drives Debian's Chromium.
 */
import { Command } from 'commander';
import { chromium } from '@playwright/test';
import { intFlag } from './cli-common';

const program = new Command()
  .name('screenshot')
  .description('Train the default preset in the browser for a while and save a screenshot')
  .option('--url <url>', 'where the lab is served', 'http://localhost:4173/')
  .option('--steps <n>', 'GRPO steps to train before the picture', intFlag('steps', 1), 20)
  .option('--out <file>', 'PNG file to write', 'docs/figures/lab.png')
  .option('--chromium <path>', 'browser executable', '/usr/bin/chromium')
  .option('--height <px>', 'window height: charts below the window are not drawn (they redraw only on screen)', intFlag('height', 600), 1100)
  .option('--full-page', 'capture the whole page, not just the window', false);

async function main(): Promise<void> {
  const o = program.parse().opts<{ url: string; steps: number; out: string; chromium: string; height: number; fullPage: boolean }>();
  const browser = await chromium.launch({ executablePath: o.chromium, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: o.height } });
    await page.goto(o.url);
    const phase = page.getByTestId('phase');
    await phase.and(page.locator('[data-phase="ready"]')).waitFor({ timeout: 60_000 });
    await page.getByTestId('start').click();
    const counter = page.getByTestId('step-counter');
    const deadline = Date.now() + 30 * 60_000;
    while (Number(await counter.getAttribute('data-step')) < o.steps) {
      if (Date.now() > deadline) throw new Error(`fewer than ${o.steps} steps in 30 minutes`);
      process.stdout.write(`\rstep ${await counter.getAttribute('data-step')} / ${o.steps}`);
      await page.waitForTimeout(2000);
    }
    await page.getByTestId('pause').click();
    await phase.and(page.locator('[data-phase="paused"]')).waitFor();
    await page.waitForTimeout(2500); // charts redraw in turn (see staggered-refresh.ts)
    await page.screenshot({ path: o.out, fullPage: o.fullPage });
    console.log(`\nsaved ${o.out}`);
  } finally {
    await browser.close();
  }
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
