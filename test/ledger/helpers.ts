/**
 * Shared test plumbing: temp folders, call records, and a plain-JS build of src/ledger that
 * child processes can import (Node 20 cannot run .ts, and dist/ may be stale while we edit).
 */

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { CallRecord } from '../../src/ledger/ledger.js';

const PROJECT = resolve(import.meta.dirname, '../..');

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = 'ledger-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A successful priced call; override what the test is about. */
export function callRecord(overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    callId: 'call-1',
    startedAt: Date.parse('2026-11-26T04:00:00.000Z'),
    model: 'gpt-4o-mini',
    provider: 'openai',
    providerModel: 'gpt-4o-mini-2024-07-18',
    usage: { promptTokens: 100, completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 120 },
    pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6 },
    costMicroUsd: 27,
    latencyMs: 250,
    attempts: 1,
    status: 'ok',
    finishReason: 'stop',
    error: null,
    ...overrides,
  };
}

/**
 * Transpiles every .ts file under src/ledger into `dir`/ledger/ (types stripped, no type check) and returns
 * the file URL of open-ledger.js. A node_modules link beside it lets the drivers resolve.
 */
export function buildLedgerForChildren(dir: string): string {
  const sourceRoot = join(PROJECT, 'src/ledger');
  const outRoot = join(dir, 'ledger');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(PROJECT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const copy = (sub: string): void => {
    mkdirSync(join(outRoot, sub), { recursive: true });
    for (const entry of readdirSync(join(sourceRoot, sub), { withFileTypes: true })) {
      const name = join(sub, entry.name);
      if (entry.isDirectory()) copy(name);
      else if (entry.name.endsWith('.ts')) {
        const { outputText } = ts.transpileModule(readFileSync(join(sourceRoot, name), 'utf8'), {
          fileName: entry.name,
          compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
        });
        writeFileSync(join(outRoot, name.replace(/\.ts$/, '.js')), outputText);
      }
    }
  };
  copy('');
  return pathToFileURL(join(outRoot, 'open-ledger.js')).href;
}

/** Path of a child script in test/ledger/fixtures. */
export function fixture(name: string): string {
  return join(import.meta.dirname, 'fixtures', name);
}
