import { expect, type Locator, type Page } from '@playwright/test';
import type { LabState } from '../../src/ui/store/lab-store';

/** Serialisable parts of the store, read through the app's window.grpoLab test hook. */
export type LabSnapshot = Pick<LabState, 'status' | 'backend' | 'model' | 'history' | 'weightChanges' | 'latestGroup' | 'fatalError' | 'actionError' | 'stages'>;

/** The lab page, addressed through data-testid attributes (and the read-only store hook). */
export class LabPage {
  readonly title: Locator;
  readonly badge: Locator;
  readonly start: Locator;
  readonly pause: Locator;
  readonly resume: Locator;
  readonly step: Locator;
  readonly reset: Locator;
  readonly stepCounter: Locator;
  readonly phase: Locator;
  readonly groupView: Locator;

  constructor(readonly page: Page) {
    this.title = page.getByTestId('app-title');
    this.badge = page.getByTestId('backend-badge');
    this.start = page.getByTestId('start');
    this.pause = page.getByTestId('pause');
    this.resume = page.getByTestId('resume');
    this.step = page.getByTestId('step');
    this.reset = page.getByTestId('reset');
    this.stepCounter = page.getByTestId('step-counter');
    this.phase = page.getByTestId('phase');
    this.groupView = page.getByTestId('group-view');
  }

  async goto(): Promise<void> {
    await this.page.goto('/');
    await this.waitReady();
  }

  /** Waits until the worker has a backend, a model and a configured run, and the page knows it. */
  async waitReady(timeout = 60_000): Promise<void> {
    await expect(this.badge).not.toHaveAttribute('data-backend', '', { timeout });
    await expect(this.phase).toHaveAttribute('data-phase', 'ready', { timeout });
    await expect(this.page.getByTestId('model-name')).toBeVisible({ timeout });
  }

  /** The pipeline panel at the tiny scale (seconds per stage), with a recipe picked if named. */
  async tinyPipeline(recipe?: string): Promise<Locator> {
    const pipeline = this.page.getByTestId('pipeline');
    await pipeline.getByTestId('recipe-scale').selectOption('tiny');
    if (recipe) await pipeline.getByTestId('recipe').selectOption(recipe);
    return pipeline;
  }

  /**
   * A chart, scrolled into view first: charts off screen do not redraw (use-on-screen.ts), so
   * a test reads a chart the way a user looks at one.
   */
  async chart(id: string): Promise<Locator> {
    const chart = this.page.getByTestId(`chart-${id}`);
    await chart.scrollIntoViewIfNeeded();
    return chart;
  }

  setting(key: string): Locator {
    return this.page.getByTestId(`setting-${key}`);
  }

  async choosePreset(name: string): Promise<void> {
    await this.page.getByTestId('preset').selectOption(name);
  }

  async fill(key: string, value: string): Promise<void> {
    await this.setting(key).fill(value);
  }

  /** Restarts the worker on a backend and waits until it is ready. */
  async forceBackend(name: 'webgpu' | 'wasm' | 'cpu'): Promise<void> {
    await this.page.getByTestId('backend-choice').selectOption(name);
    await expect(this.badge).toHaveAttribute('data-backend', name, { timeout: 60_000 });
    await expect(this.phase).toHaveAttribute('data-phase', 'ready', { timeout: 60_000 });
  }

  async currentStep(): Promise<number> {
    return Number(await this.stepCounter.getAttribute('data-step'));
  }

  async waitForStep(atLeast: number, timeout = 60_000): Promise<void> {
    await expect.poll(() => this.currentStep(), { timeout }).toBeGreaterThanOrEqual(atLeast);
  }

  async state(): Promise<LabSnapshot> {
    return this.page.evaluate(() => {
      const s = (window as unknown as { grpoLab: { state(): LabSnapshot } }).grpoLab.state();
      return JSON.parse(JSON.stringify({
        status: s.status, backend: s.backend, model: s.model, history: s.history, weightChanges: s.weightChanges,
        latestGroup: s.latestGroup, fatalError: s.fatalError, actionError: s.actionError, stages: s.stages,
      })) as LabSnapshot;
    });
  }

  /** Waits for the page's idle chart warm-up (src/ui/charts/warm-up.tsx) to have drawn. */
  async waitForChartsWarm(): Promise<void> {
    await expect(this.page.locator('html')).toHaveAttribute('data-charts-warm', 'true', { timeout: 10_000 });
  }

  /** Starts collecting the main thread's long tasks (over 50 ms) afresh; read them with longTasks(). */
  async watchLongTasks(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { longTasks: number[]; longTaskObserver?: PerformanceObserver };
      w.longTaskObserver?.disconnect();
      w.longTasks = [];
      w.longTaskObserver = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push(e.duration);
      });
      w.longTaskObserver.observe({ type: 'longtask' });
    });
  }

  /** Durations (ms) of the long tasks since watchLongTasks(). */
  async longTasks(): Promise<number[]> {
    return this.page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
  }

  /** A metric's value at a step, from the charted history. */
  async metricAt(step: number, key: string): Promise<number | undefined> {
    const { history } = await this.state();
    return history.find((p) => p.step === step && key in p.values)?.values[key];
  }
}
