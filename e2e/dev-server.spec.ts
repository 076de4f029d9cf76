import { expect, test } from '@playwright/test';
import { LabPage } from './pages/lab-page';

test('the lab also loads and trains from `npm run dev`', async ({ page }) => {
  test.setTimeout(120_000);
  const lab = new LabPage(page);
  await page.goto('/');
  await lab.waitReady(90_000);
  await expect(page.getByTestId('model-name')).toHaveText('default');
  await lab.choosePreset('tiny');
  await lab.step.click();
  await lab.waitForStep(1);
  expect(await lab.metricAt(1, 'loss')).toBeDefined();
});
