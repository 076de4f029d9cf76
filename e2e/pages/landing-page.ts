import { expect, type Locator, type Page } from '@playwright/test';

/** The landing page, addressed through data-testid attributes only. */
export class LandingPage {
  readonly title: Locator;
  readonly intro: Locator;
  readonly baseModel: Locator;
  readonly baseModelStatus: Locator;

  constructor(readonly page: Page) {
    this.title = page.getByTestId('app-title');
    this.intro = page.getByTestId('app-intro');
    this.baseModel = page.getByTestId('base-model');
    this.baseModelStatus = page.getByTestId('base-model-status');
  }

  async goto(): Promise<void> {
    await this.page.goto('/');
  }

  /** Waits until the base-model lookup has finished, and returns how it ended. */
  async baseModelState(): Promise<string> {
    await expect(this.baseModelStatus).not.toHaveAttribute('data-state', 'loading');
    return (await this.baseModelStatus.getAttribute('data-state')) ?? '';
  }
}
