import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 240_000,
    setupFiles: ['test/helpers/setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
  },
});
