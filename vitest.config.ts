import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A throwaway PostgreSQL server for the PostgreSQL ledger's tests (or LLM_SERVICE_TEST_PG_URL).
    globalSetup: ['test/support/postgres-global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Many tests measure real time (retry waits, cancellation within 100 ms): running the files
    // one at a time keeps a busy 2-core machine from turning them flaky.
    fileParallelism: false,
  },
});
