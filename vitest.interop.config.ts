import { defineConfig } from 'vitest/config';

/**
 * `npm run test:interop`: clients nobody here wrote against a real opences — cepces (from
 * CEPCES_SRC), and the Debian-packaged clients the main suite also drives: micromdm's scepclient
 * and certmonger's scep-submit (SCEP), and Chromium (the console and web enrollment).
 */
export default defineConfig({
  test: {
    include: [
      'test/interop/**/*.test.ts',
      'test/integration/scep.test.ts',
      'test/integration/console-browser.test.ts',
      'test/integration/web-enroll-browser.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 240_000,
    globalSetup: ['test/helpers/global-tmp.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
  },
});
