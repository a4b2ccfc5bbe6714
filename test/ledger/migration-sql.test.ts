/**
 * Shipped migrations never change: a database migrated by an older version must be what this
 * version's history says it is. The SQL of some steps is assembled from shared constants
 * (migrations.ts, postgres-migrations.ts); these checksums of the text as shipped catch any edit
 * of those constants that would change a shipped step, even by one byte.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/ledger/migrations.js';
import { POSTGRES_MIGRATIONS } from '../../src/ledger/postgres/postgres-migrations.js';

// sha256 of each step's `sql`, taken from the text as it shipped. Add a step's line when it ships.
const SQLITE_SHIPPED: Record<number, string> = {
  1: 'a607201c5d6d4069756e6d8df37498dd7c7344e96f01009d7f47065fcc6ed94d',
  2: 'e8407a96140ebe69ae5af10db2bcfdb5fb38d904adc12c06cb698903a7fddea1',
  3: '8b17f905e2fbe15480faa565ea6df8e7f2e82e98554ec74e882216f293154946',
  4: '1dd2e7495186f2ffed8c86324a69524ba6be665ce2eefefe741428d8626f20e0',
  5: 'dd45c20a463f6ca262a9d1b3e179422122f51aaaae78433eb606f4adfe7ee895',
  6: '8ba4f34d5085e5dab2f4c59c22c45ecb846a99d409444d1d037a1f8b3f192420',
  7: 'cec868b31f65e3c26d3c130476c508e6bafbc38cbed5b8b800ecae60831abe88',
  8: '93cb3894eea66a86b681fe5c0556c9beedabdc4deb1724201364ae5de42aef7c',
};

const POSTGRES_SHIPPED: Record<number, string> = {
  1: '6bfe000053d7c173bb76e973cf4e4beb7cca3db38ae4b6cbac6fdb3218151134',
  2: '8fe55500b5969aaed400ba8d2270a12160862d714808f90685ae1beb760fc1ff',
  3: 'aaea5f8276004d846ac1f79745488c6dc1f5ed8356346a1380ce2d99b34e3b16',
  4: '2c5a1e3a76b874bb28de9afe484bfa0c55b8145326db3f880747e54182042f25',
  5: '197348a7e371680a14d141e9eb75411ece0b8fefddec4e67cac24469ca9cbed0',
};

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe.each([
  { store: 'SQLite', migrations: MIGRATIONS, shipped: SQLITE_SHIPPED },
  { store: 'PostgreSQL', migrations: POSTGRES_MIGRATIONS, shipped: POSTGRES_SHIPPED },
])('$store migrations as shipped', ({ migrations, shipped }) => {
  it('are numbered 1, 2, 3 … in order', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
  });

  it.each(Object.entries(shipped))('step %s yields the SQL it shipped with, byte for byte', (version, checksum) => {
    const migration = migrations.find((m) => m.version === Number(version));
    expect(migration, `step ${version} is missing`).toBeDefined();
    expect(sha256(migration!.sql)).toBe(checksum);
  });
});
