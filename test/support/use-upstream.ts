/**
 * The loopback upstream for one test file (or one `describe`): started before its tests
 * (`beforeAll`), closed after them (`afterAll`), and with `clearEach` its request log emptied
 * before each test, so a test reads only the requests it caused.
 *
 * Returns a handle that reads through to the running upstream, so call sites use it as they would
 * the `Upstream` itself (`upstream.enqueue(...)`, `upstream.requests`); touching it outside a test
 * or hook (before the upstream started) throws, saying so.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startUpstream, type Upstream } from './upstream.js';

export function useUpstream(options: { clearEach?: boolean } = {}): Upstream {
  let running: Upstream | undefined;
  beforeAll(async () => {
    running = await startUpstream();
  });
  afterAll(async () => {
    await running?.close();
    running = undefined;
  });
  if (options.clearEach) {
    beforeEach(() => {
      running!.requests.length = 0;
    });
  }
  return new Proxy({} as Upstream, {
    get(_, key) {
      if (!running) throw new Error(`useUpstream: upstream.${String(key)} read before the upstream started (use it inside a test or hook)`);
      const value = running[key as keyof Upstream];
      return typeof value === 'function' ? value.bind(running) : value;
    },
  });
}
