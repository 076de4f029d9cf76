import { expect, test } from '@playwright/test';
import { LabPage } from './pages/lab-page';

/**
 * The lab against the production build, in Debian's Chromium. Runs use the tiny preset (a
 * 5,904-parameter model from random weights) so that steps take well under a second on wasm.
 */

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (error) => {
    throw new Error(`page error: ${error.message}`);
  });
});

test('the page opens with the shipped base model loaded and the backend badge set', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await expect(lab.title).toHaveText('GRPO Lab');
  // SwiftShader is a software adapter, so 'auto' picks wasm and says why.
  await expect(lab.badge).toHaveAttribute('data-backend', 'wasm');
  await expect(page.getByTestId('backend-note').first()).toContainText('software adapter');
  // tfjs-wasm runs on a shared memory, so a helper thread per extra core (blob-URL workers) works
  // in place on its tensors, in large matmuls and fused kernels alike.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  await expect(page.getByTestId('backend-adapter')).toHaveText(`WebAssembly SIMD on ${cores} thread${cores === 1 ? '' : 's'}, ${cores} cores`);
  await expect(page.getByTestId('model-name')).toHaveText('default');
  await expect(page.getByTestId('model-parameters')).toHaveText('812,544');
  await expect(page.getByTestId('model-origin')).toContainText('base.json');
  await expect(page.getByTestId('preset')).toHaveValue('r1-zero');
  await expect(lab.start).toBeEnabled();
  await expect(page.getByTestId('stage-base')).toHaveAttribute('aria-current', 'step');
});

test('Start trains on wasm: steps advance, chart points appear, and the group view fills', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.fill('steps', '30');
  await lab.start.click();
  await lab.waitForStep(3);
  const reward = await lab.chart('reward');
  await expect.poll(async () => Number(await reward.getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
  await expect(await lab.chart('loss')).toHaveAttribute('data-points', /[1-9]/);
  await expect(page.getByTestId('stage-r1-zero')).toHaveAttribute('aria-current', 'step');
  await expect(page.getByTestId('speed')).toContainText('s/step');

  // The group view: G completions with a reward and an advantage each, advantages centred.
  const cards = lab.groupView.getByTestId('group-completion');
  await expect(cards).toHaveCount(4);
  const advantages = await cards.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-advantage'))));
  expect(advantages.every(Number.isFinite)).toBe(true);
  expect(Math.abs(advantages.reduce((a, b) => a + b, 0))).toBeLessThan(1e-3);
  await expect(cards.first().getByTestId('completion-reward')).not.toBeEmpty();
  await expect(cards.first().getByTestId('completion-advantage')).not.toBeEmpty();
  await expect(lab.groupView.getByTestId('group-prompt')).toContainText('+');
  await page.getByTestId('token-mode').selectOption('ratio');
  await expect(lab.groupView.locator('[title*="ratio"]').first()).toBeVisible();
});

test('Pause stops the steps and Resume continues them', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.fill('steps', '500');
  await lab.start.click();
  await lab.waitForStep(2);
  await lab.pause.click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'paused');
  const paused = await lab.currentStep();
  await page.waitForTimeout(1500);
  expect(await lab.currentStep()).toBe(paused);
  await lab.resume.click();
  await lab.waitForStep(paused + 2);
  await lab.pause.click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'paused');
});

test('a reward weight change applies from the next step and is marked on the charts', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.fill('steps', '500');
  await lab.step.click();
  await lab.waitForStep(1);
  // Only the overlong penalty counts from now on: the total reward must equal its mean.
  for (const name of ['accuracy', 'format']) await page.getByTestId(`weight-${name}`).fill('0');
  await page.getByTestId('weight-overlong').fill('1');
  await expect(page.getByTestId('weights-applied')).toContainText('step 2');
  await lab.step.click();
  await lab.waitForStep(2);
  const reward = await lab.metricAt(2, 'reward');
  const overlong = await lab.metricAt(2, 'rewards/overlong/mean');
  expect(reward).toBeDefined();
  expect(reward).toBeCloseTo(overlong as number, 6);
  const { weightChanges } = await lab.state();
  expect(weightChanges.at(-1)).toMatchObject({ step: 2, weights: { accuracy: 0, format: 0, overlong: 1 } });
  await expect((await lab.chart('reward')).getByText('weights')).toBeVisible();
});

test('invalid settings show an inline error naming the allowed values and block Start', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.fill('groupSize', '1');
  await expect(page.getByTestId('setting-error-groupSize')).toContainText('>=2');
  await expect(lab.start).toBeDisabled();
  await expect(page.getByTestId('settings-invalid')).toBeVisible();
  await lab.fill('groupSize', 'eight');
  await expect(page.getByTestId('setting-error-groupSize')).toBeVisible();
  await lab.fill('groupSize', '8');
  await expect(page.getByTestId('setting-error-groupSize')).toHaveCount(0);
  await expect(lab.start).toBeEnabled();
});

test('WebGPU (SwiftShader) trains a step that matches wasm on the same seed: completions, entropy and loss', async ({ page }) => {
  test.setTimeout(180_000);
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.fill('evalSize', '4');
  const firstStep = async () => {
    await lab.step.click();
    await lab.waitForStep(1, 120_000);
    const values = async (key: string) => (await lab.metricAt(1, key)) as number;
    // At the first step the ratio is exactly 1, so the loss follows the advantages alone; the
    // completions' length, the policy's entropy and the held-out score are what read the logits.
    return {
      loss: await values('loss'), reward: await values('reward'), entropy: await values('entropy'),
      length: await values('completions/mean_length'), heldOut: (await lab.metricAt(0, 'eval/pass@1_any_format')) as number,
    };
  };
  await lab.forceBackend('webgpu');
  await expect(lab.badge).toContainText('software');
  const gpu = await firstStep();
  // Pipelines still read back synchronously, which gives zeros on this adapter: refused, with the reason.
  const pipeline = await lab.tinyPipeline('r1-zero-only');
  await pipeline.getByTestId('run-pipeline').click();
  await expect(page.getByText('software WebGPU adapter')).toBeVisible();
  await lab.forceBackend('wasm');
  const wasm = await firstStep();
  expect(gpu.length).toBe(wasm.length);
  expect(gpu.reward).toBeCloseTo(wasm.reward, 5);
  expect(gpu.entropy).toBeGreaterThan(0.1);
  expect(Math.abs(gpu.entropy - wasm.entropy)).toBeLessThan(1e-4);
  expect(Math.abs(gpu.loss - wasm.loss)).toBeLessThan(1e-4);
  expect(gpu.heldOut).toBe(wasm.heldOut);
});

test('the main thread stays responsive while training: long tasks are measured during a run', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.fill('steps', '5000');
  // A window tall enough for the Start button and the first charts at once: charts off screen do not
  // redraw, and these are to redraw as a user watches them, from the first batch on.
  await page.setViewportSize({ width: 1280, height: 1500 });
  const reward = page.getByTestId('chart-reward');
  await expect(reward).toBeInViewport();
  await lab.waitForChartsWarm();
  await lab.watchLongTasks();
  await lab.start.click();
  await lab.waitForStep(2);
  const atStart = await lab.longTasks();
  const startReport = `pressing Start: ${atStart.length} long tasks, longest ${Math.max(0, ...atStart).toFixed(0)} ms`;
  test.info().annotations.push({ type: 'long tasks', description: startReport });
  console.log(startReport);
  // From here on the page only receives metrics and redraws: every long task is the lab's.
  await lab.watchLongTasks();
  const from = await lab.currentStep();
  const pointsBefore = Number(await reward.getAttribute('data-points'));
  await page.waitForTimeout(8000);
  const pointsAfter = Number(await reward.getAttribute('data-points'));
  await lab.pause.click();
  const longTasks = await lab.longTasks();
  const steps = (await lab.currentStep()) - from;
  const worst = longTasks.length ? Math.max(...longTasks) : 0;
  const report = `${longTasks.length} long tasks in 8 s (${steps} tiny steps); longest ${worst.toFixed(0)} ms`;
  test.info().annotations.push({ type: 'long tasks', description: report });
  console.log(report);
  expect(steps).toBeGreaterThan(5);
  // The chart in view kept redrawing while the long tasks were counted.
  expect(pointsAfter).toBeGreaterThan(pointsBefore);
  // Target: none over 50 ms, at Start and after. Measured on 2 cores, where the worker takes one,
  // with nothing else running: none, at Start and in the window (docs/lab.md); without the chart
  // warm-up, Start cost one task of 77-138 ms, which these bounds let through: the figures above
  // report it. Shared cores bring 50-93 ms tasks now and then. The bounds catch a regression to
  // drawing every chart in one task (700-900 ms).
  expect(Math.max(0, ...atStart)).toBeLessThan(250);
  expect(worst).toBeLessThan(250);
});

test('charts stay responsive with 10,000 steps of history: downsampled for display, every point kept', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  // As a history loaded into an open page: after the page's idle warm-up (see warm-up.tsx).
  await lab.waitForChartsWarm();
  await lab.watchLongTasks();
  await page.evaluate(() => {
    const w = window as unknown as { grpoLab: { state(): { appendMetrics(p: unknown[]): void } } };
    const points = Array.from({ length: 10_000 }, (_, i) => ({
      step: i + 1,
      stage: 'r1-zero',
      values: {
        reward: Math.min(1, i / 5000), loss: Math.cos(i / 300), kl: i * 1e-6, entropy: 1 - i / 20_000,
        'completions/mean_length': 15 + i / 1000, 'completions/min_length': 5, 'completions/max_length': 40,
        'rewards/accuracy/mean': i / 10_000, frac_reward_zero_std: 0.5, grad_norm: 1,
        ...(i % 100 === 0 ? { 'eval/pass@1': i / 10_000 } : {}),
      },
    }));
    w.grpoLab.state().appendMetrics(points);
  });
  const reward = await lab.chart('reward');
  await expect.poll(async () => Number(await reward.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(100);
  expect(Number(await reward.getAttribute('data-points'))).toBeLessThanOrEqual(150);
  const gradNorm = await lab.chart('grad-norm');
  await expect.poll(async () => Number(await gradNorm.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(100);
  const { history } = await lab.state();
  expect(history).toHaveLength(10_000);
  const longTasks = await lab.longTasks();
  const report = `10,000-step history drawn with ${longTasks.length} long tasks, longest ${Math.max(0, ...longTasks).toFixed(0)} ms`;
  test.info().annotations.push({ type: 'long tasks', description: report });
  console.log(report);
  expect(Math.max(0, ...longTasks)).toBeLessThan(1000);
});

test('a corrupt checkpoint file is refused with the reason, and the loaded model is kept', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await page.getByTestId('load-checkpoint').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "grpo-lab-checkpoint", "formatVersion": 9}') });
  await expect(page.getByTestId('action-error')).toContainText('formatVersion');
  await expect(page.getByTestId('model-origin')).toContainText('base.json');
  await expect(lab.phase).toHaveAttribute('data-phase', 'ready');
});

test('a tiny R1 pipeline runs in the app: stage cards fill in and the charts band each stage', async ({ page }) => {
  test.setTimeout(180_000);
  const lab = new LabPage(page);
  await lab.goto();
  const pipeline = await lab.tinyPipeline();
  await expect(pipeline.getByTestId('recipe')).toHaveValue('r1');
  await expect(pipeline.getByTestId('stage-card-cold-start')).toBeVisible();
  await pipeline.getByTestId('run-pipeline').click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'done', { timeout: 150_000 });
  const stages = ['r1-zero', 'cold-start', 'reasoning-rl', 'reward-model', 'rejection-sampling', 'final-rl'];
  for (const id of stages) await expect(pipeline.getByTestId(`stage-card-${id}`)).toHaveAttribute('data-state', 'done');
  await expect(pipeline.getByTestId('stage-card-reward-model')).toContainText('pairwise acc.');
  await expect(pipeline.getByTestId('stage-card-cold-start').getByTestId('stage-counts')).toContainText('kept');
  const chart = await lab.chart('accuracy');
  await expect(chart.locator('text', { hasText: 'R1-Zero' })).toBeVisible({ timeout: 10_000 });
  await expect(chart.locator('text', { hasText: 'Cold start' })).toBeVisible();
  const { history } = await lab.state();
  expect(new Set(history.map((p) => p.stage))).toEqual(new Set(stages));

  // Re-run from the reward model on: the earlier stages stay, and the replaced run stays on the charts.
  await pipeline.getByTestId('run-from-reward-model').click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'done', { timeout: 150_000 });
  await expect(pipeline.getByTestId('stage-card-r1-zero')).toHaveAttribute('data-state', 'done');
  await expect((await lab.chart('reward')).getByText('total (weighted) (previous run)')).toBeVisible();
  const after = await lab.state();
  expect(after.history.some((p) => Object.keys(p.values).some((k) => k.startsWith('previous:')))).toBe(true);
});

test('GRPO vs PPO: both stages overlaid from a shared step 0, with PPO\'s extra parameters on its card', async ({ page }) => {
  test.setTimeout(120_000);
  const lab = new LabPage(page);
  await lab.goto();
  const pipeline = await lab.tinyPipeline('grpo-vs-ppo');
  await pipeline.getByTestId('run-pipeline').click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'done', { timeout: 100_000 });
  await expect(pipeline.getByTestId('stage-card-ppo').getByTestId('stage-value-params')).toContainText(/\+[\d,]+ parameters/);
  const overlay = page.getByTestId('overlay-stages');
  await expect(overlay).toBeChecked();
  const reward = await lab.chart('reward');
  await expect(reward.getByText('total (weighted): GRPO')).toBeVisible({ timeout: 10_000 });
  await expect(reward.getByText('total (weighted): PPO')).toBeVisible();
  // Both stages start at step 0: the overlaid axis is one stage long, not two.
  const { stages } = await lab.state();
  const grpoSteps = (stages[0]!.lastStep as number) - (stages[0]!.firstStep as number);
  await expect.poll(async () => Number(await reward.getAttribute('data-points'))).toBe(grpoSteps);
  // Off: one after the other on the pipeline's steps, with a band per stage.
  await overlay.uncheck();
  await expect(reward.getByText('total (weighted)', { exact: true })).toBeVisible();
  await expect(reward.locator('text', { hasText: 'PPO' })).toBeVisible({ timeout: 10_000 });

  // Fork: change PPO's settings and re-run from it; GRPO's stage stays, the replaced PPO run stays on the charts.
  await pipeline.getByTestId('stage-card-ppo').locator('summary', { hasText: 'settings' }).click();
  const settings = pipeline.getByTestId('stage-settings-ppo');
  const ppo = JSON.parse(await settings.inputValue()) as { config: { steps: number } };
  await settings.fill(JSON.stringify({ ...ppo, config: { ...ppo.config, steps: ppo.config.steps + 2 } }));
  await pipeline.getByTestId('stage-settings-apply-ppo').click();
  await expect(pipeline.getByTestId('stage-steps-ppo')).toHaveValue(String(ppo.config.steps + 2));
  await pipeline.getByTestId('run-from-ppo').click();
  // The phase reads 'done' from the first run until the fork starts: wait for the re-run PPO card.
  const ppoSteps = async () => {
    const card = (await lab.state()).stages.find((st) => st.id === 'ppo');
    return card?.state === 'done' ? (card.lastStep as number) - (card.firstStep as number) : -1;
  };
  await expect.poll(ppoSteps, { timeout: 100_000 }).toBe(ppo.config.steps + 2);
  await expect(lab.phase).toHaveAttribute('data-phase', 'done');
  const forked = await lab.state();
  expect(forked.stages[0]).toMatchObject({ id: 'grpo', firstStep: stages[0]!.firstStep, lastStep: stages[0]!.lastStep });
  expect(forked.history.some((p) => Object.keys(p.values).some((k) => k.startsWith('previous:')))).toBe(true);
});

test('an edited pipeline runs as edited, and an edit that breaks a hand-off is refused with the reason', async ({ page }) => {
  test.setTimeout(120_000);
  const lab = new LabPage(page);
  await lab.goto();
  const pipeline = await lab.tinyPipeline('r1-zero-only');
  // Removing R1-Zero from r1 leaves the cold start reading a checkpoint nobody wrote.
  await pipeline.getByTestId('recipe').selectOption('r1');
  await pipeline.getByTestId('stage-remove-r1-zero').click();
  await pipeline.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('action-error')).toContainText('no checkpoint "r1-zero"');
  await pipeline.getByTestId('reset-recipe').click();
  // Keep R1-Zero only, two steps long.
  for (const id of ['final-rl', 'rejection-sampling', 'reward-model', 'reasoning-rl', 'cold-start']) await pipeline.getByTestId(`stage-remove-${id}`).click();
  await pipeline.getByTestId('stage-steps-r1-zero').fill('2');
  // Edit a setting as JSON: a bad value is refused with the field named, a good one is kept.
  await pipeline.getByTestId('stage-card-r1-zero').locator('summary', { hasText: 'settings' }).click();
  const settings = pipeline.getByTestId('stage-settings-r1-zero');
  const edited = JSON.parse(await settings.inputValue()) as { config: { groupSize: number; steps: number } };
  expect(edited.config.steps).toBe(2);
  await settings.fill(JSON.stringify({ ...edited, config: { ...edited.config, groupSize: 1 } }));
  await pipeline.getByTestId('stage-settings-apply-r1-zero').click();
  await expect(pipeline.getByTestId('stage-settings-error-r1-zero')).toContainText('config.groupSize');
  await settings.fill(JSON.stringify({ ...edited, config: { ...edited.config, groupSize: 2 } }));
  await pipeline.getByTestId('stage-settings-apply-r1-zero').click();
  await expect(pipeline.getByTestId('stage-settings-error-r1-zero')).toHaveCount(0);
  await pipeline.getByTestId('run-pipeline').click();
  await expect(lab.phase).toHaveAttribute('data-phase', 'done', { timeout: 60_000 });
  await expect(pipeline.getByTestId('stage-card-r1-zero')).toHaveAttribute('data-state', 'done');
  expect(await lab.currentStep()).toBe(2);
  // The group view shows groups of the edited size.
  await expect.poll(async () => (await lab.state()).latestGroup?.completions.length).toBe(2);
});

test('a checkpoint saved from the app loads back as the start of a new run; Sample a group scores a fresh group', async ({ page }) => {
  const lab = new LabPage(page);
  await lab.goto();
  await lab.choosePreset('tiny');
  await lab.step.click();
  await lab.waitForStep(1);
  await expect(lab.phase).toHaveAttribute('data-phase', 'paused');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save').click()]);
  const path = await download.path();
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(path, 'utf8');
  const saved = JSON.parse(text) as { format: string; model: { name: string }; meta: { step: number } };
  expect(saved).toMatchObject({ format: 'grpo-lab-checkpoint', model: { name: 'test' }, meta: { step: 1 } });
  await page.getByTestId('load-checkpoint').setInputFiles({ name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(text) });
  await expect(page.getByTestId('model-origin')).toContainText('mine.json');
  await expect(page.getByTestId('model-name')).toHaveText('test');
  await page.getByTestId('sample').click();
  await expect(lab.groupView.getByTestId('group-completion')).toHaveCount(4);
});
