#!/usr/bin/env node
/**
 * What-if for the benchmarks only: runs the built `dist/cli.js` unchanged, except that the
 * ledger it opens is switched from `synchronous = FULL` to `synchronous = NORMAL` (still WAL).
 * This isolates the cost of one fsync per recorded call. Never used by the product.
 */
import { Ledger } from '../dist/ledger/ledger.js';

const open = Ledger.open;
Ledger.open = function openWithNormalSync(...args) {
  const ledger = open.apply(this, args);
  // `db` is TypeScript-private, but a plain property at run time.
  ledger.db.pragma('synchronous = NORMAL');
  return ledger;
};

await import('../dist/cli.js');
