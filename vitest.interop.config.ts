import { defineConfig } from 'vitest/config';

/** `npm run test:interop`: clients nobody here wrote (cepces) against a real opences. */
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/helpers/setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
  },
});
