import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Many tests measure real time (retry waits, cancellation within 100 ms): running the files
    // one at a time keeps a busy 2-core machine from turning them flaky.
    fileParallelism: false,
  },
});
