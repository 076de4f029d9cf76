import { expect, test } from '@playwright/test';
import { LandingPage } from './pages/landing-page';

test('the landing page shows the heading and the base-model section', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));

  const landing = new LandingPage(page);
  await landing.goto();

  await expect(landing.title).toHaveText('GRPO Lab');
  await expect(landing.intro).toContainText('GRPO');
  await expect(landing.baseModel.getByRole('heading', { name: 'Base model' })).toBeVisible();

  // The shipped checkpoint (public/checkpoints/base.json) loads and its metadata shows.
  expect(await landing.baseModelState()).toBe('loaded');
  await expect(landing.baseModel.getByTestId('base-model-name')).toHaveText('default');
  await expect(landing.baseModel.getByTestId('base-model-parameters')).toHaveText('812,544');
  await expect(landing.baseModel.getByTestId('base-model-pass1')).toContainText('format-blind');

  expect(errors).toEqual([]);
});
