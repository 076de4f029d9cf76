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

  // Either the shipped checkpoint's metadata or an explicit "not found": never stuck loading.
  const state = await landing.baseModelState();
  expect(['loaded', 'missing']).toContain(state);
  if (state === 'loaded') {
    await expect(landing.baseModel.getByTestId('base-model-name')).not.toBeEmpty();
  } else {
    await expect(landing.baseModelStatus).toContainText('Base model not found');
  }

  expect(errors).toEqual([]);
});
