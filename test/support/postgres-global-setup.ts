/**
 * vitest globalSetup: the PostgreSQL server the ledger tests run against. LLM_SERVICE_TEST_PG_URL
 * names an existing server (a superuser URL: each test file creates and drops its own databases);
 * otherwise a throwaway cluster is started on a free loopback port and removed afterwards.
 */

import type { TestProject } from 'vitest/node';
import { startPostgresCluster } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the PostgreSQL server for the tests. */
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.LLM_SERVICE_TEST_PG_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return async () => undefined;
  }
  const cluster = await startPostgresCluster();
  project.provide('postgresUrl', cluster.url);
  return () => cluster.remove();
}
