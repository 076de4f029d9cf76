import { defineConfig, devices } from '@playwright/test';

/**
 * End-to-end tests against the production build (`vite build` + `vite preview`), in Debian's
 * Chromium: Playwright's own browsers cannot be downloaded here (`npx playwright install` fails).
 * `--enable-unsafe-webgpu` gives a WebGPU adapter (SwiftShader, on the CPU) in the page and in
 * workers: correct but slow, so e2e tests use small sizes only.
 */
const PORT = 4173;
const DEV_PORT = 5173;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './e2e',
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: process.env.CI ? 1 : 0,
  workers: 1,
  timeout: 60_000,
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    baseURL: `http://localhost:${PORT}`,
    trace: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      testIgnore: /dev-server\.spec\.ts/,
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: CHROMIUM,
          args: [
            '--enable-unsafe-webgpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-sandbox',
          ],
        },
      },
    },
    {
      // The same lab from `npm run dev` (unbundled modules, Vite's dependency pre-bundling).
      name: 'dev-server',
      testMatch: /dev-server\.spec\.ts/,
      use: {
        ...devices['Desktop Chrome'],
        baseURL: `http://localhost:${DEV_PORT}`,
        launchOptions: { executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-quic', '--no-first-run'] },
      },
    },
  ],
  webServer: [
    {
      command: `npm run build && npm run preview -- --port ${PORT} --strictPort`,
      url: `http://localhost:${PORT}`,
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      command: `npm run dev -- --port ${DEV_PORT} --strictPort`,
      url: `http://localhost:${DEV_PORT}`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
  ],
});
