/**
 * `chat` with `files`, through a real MCP Client against the loopback upstream: what each wire
 * receives (text blocks headed by their path, image parts, PDF documents), the allowed roots
 * (`..`, symlink escape, absolute path outside, a root the client offers), size caps, the vision
 * check, and the budget hold counting the files' tokens.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { harnessPerTest, resultText } from '../support/harness.js';

const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [3 0 R 4 0 R] /Count 2>> endobj\n' +
    '3 0 obj <</Type /Page /Parent 2 0 R>> endobj\n4 0 obj <</Type /Page /Parent 2 0 R>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n',
  'latin1',
);

let base: string;
let root: string;
let outside: string;
let offered: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'llm-files-')));
  root = join(base, 'project');
  outside = join(base, 'outside');
  offered = join(base, 'offered');
  for (const dir of [root, outside, offered, join(root, 'src')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(root, 'src', 'app.ts'), 'export const answer = 42;\n');
  writeFileSync(join(root, 'pixel.png'), PNG_1X1);
  writeFileSync(join(root, 'doc.pdf'), PDF);
  writeFileSync(join(root, 'blob.bin'), Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 0x10]));
  writeFileSync(join(root, 'big.txt'), 'x'.repeat(4096));
  writeFileSync(join(outside, 'secret.txt'), 'top secret');
  writeFileSync(join(offered, 'client.md'), '# offered by the client');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
  symlinkSync(join(root, 'src', 'app.ts'), join(root, 'inside-link.ts'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const start = harnessPerTest();
const withRoot = (extra: Record<string, unknown> = {}) =>
  start({
    config: {
      files: { roots: [root], ...extra },
      // A vision model on an OpenAI-compatible provider: it reads images but not PDFs.
      models: { 'qwen-vl': { provider: 'qwen', providerModel: 'qwen-vl-max', capabilities: { vision: true } } },
    },
  });

function structured(result: Awaited<ReturnType<Awaited<ReturnType<typeof start>>['callTool']>>): ChatResult {
  return result.structuredContent as unknown as ChatResult;
}

describe('text files', () => {
  it('go to OpenAI as a text part headed by the path, before the prompt', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'Explain it', files: ['src/app.ts'] });
    expect(result.isError).toBeFalsy();
    const body = h.upstream.requests[0]!.body;
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: '<file path="src/app.ts">\nexport const answer = 42;\n\n</file>' },
          { type: 'text', text: 'Explain it' },
        ],
      },
    ]);
  });

  it('go to Anthropic as a text block, and a symlink inside the root is followed', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'claude-haiku-4-5', system: 'Be brief', prompt: 'Explain it', files: ['inside-link.ts'] });
    expect(result.isError).toBeFalsy();
    const body = h.upstream.requests[0]!.body;
    expect(body.system).toBe('Be brief');
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: '<file path="inside-link.ts">\nexport const answer = 42;\n\n</file>' },
          { type: 'text', text: 'Explain it' },
        ],
      },
    ]);
  });

  it('attach to the last user message of `messages`', async () => {
    const h = await withRoot();
    await h.callTool('chat', {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: 'now this file' },
      ],
      files: [join(root, 'src', 'app.ts')],
    });
    const messages = h.upstream.requests[0]!.body.messages;
    expect(messages[0]).toEqual({ role: 'user', content: 'first' });
    expect(messages[2].content[0].text).toContain(`<file path="${join(root, 'src', 'app.ts')}">`);
    expect(messages[2].content[1]).toEqual({ type: 'text', text: 'now this file' });
  });
});

describe('images and PDFs', () => {
  it('an image goes to OpenAI as an image_url data URL', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'What is this?', files: ['pixel.png'] });
    expect(result.isError).toBeFalsy();
    const content = h.upstream.requests[0]!.body.messages[0].content;
    expect(content[0]).toEqual({ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1.toString('base64')}` } });
    expect(content[1]).toEqual({ type: 'text', text: 'What is this?' });
  });

  it('an image goes to Anthropic as a base64 image block', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'claude-haiku-4-5', prompt: 'What is this?', files: ['pixel.png'] });
    expect(result.isError).toBeFalsy();
    const content = h.upstream.requests[0]!.body.messages[0].content;
    expect(content[0]).toEqual({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1X1.toString('base64') } });
  });

  it('a PDF goes to Anthropic as a document block and to OpenAI as a file part', async () => {
    const h = await withRoot();
    expect((await h.callTool('chat', { model: 'claude-haiku-4-5', prompt: 'Summarise', files: ['doc.pdf'] })).isError).toBeFalsy();
    expect((await h.callTool('chat', { model: 'gpt-4o', prompt: 'Summarise', files: ['doc.pdf'] })).isError).toBeFalsy();
    const [anthropic, openai] = h.upstream.requests;
    expect(anthropic!.body.messages[0].content[0]).toEqual({
      type: 'document',
      source: { type: 'base64', media_type: 'application/pdf', data: PDF.toString('base64') },
      title: 'doc.pdf',
    });
    expect(openai!.body.messages[0].content[0]).toEqual({
      type: 'file',
      file: { filename: 'doc.pdf', file_data: `data:application/pdf;base64,${PDF.toString('base64')}` },
    });
  });

  it('refuses an image for a model without vision, and a PDF for a provider without PDF input, before any request', async () => {
    const h = await withRoot();
    const noVision = await h.callTool('chat', { model: 'deepseek-v4-pro', prompt: 'What is this?', files: ['pixel.png'] });
    expect(noVision.isError).toBe(true);
    expect(resultText(noVision)).toMatch(/pixel\.png is an image, and deepseek-v4-pro has no vision/);
    const pdf = await h.callTool('chat', { model: 'qwen-vl', prompt: 'x', files: ['doc.pdf'] });
    expect(pdf.isError).toBe(true);
    expect(resultText(pdf)).toMatch(/doc\.pdf is a PDF; only OpenAI and Anthropic models take PDFs natively, not qwen-vl \(qwen\)/);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('refuses a binary file of another kind, saying why', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['blob.bin'] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/files\[0\] 'blob\.bin' was not sent: it (is not UTF-8 text|contains NUL bytes).*Only text files, PNG, JPEG, GIF and WebP images, and PDFs/);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('allowed roots', () => {
  it.each([
    ['a .. path', () => '../outside/secret.txt'],
    ['a symlink that escapes', () => 'escape.txt'],
    ['an absolute path outside', () => join(outside, 'secret.txt')],
  ])('refuses %s with an error naming the roots, and sends nothing', async (_name, path) => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: [path()] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain(`is outside the allowed roots (${root})`);
    expect(resultText(result)).not.toContain('top secret');
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('a missing file outside the roots is "outside", not "no such file"', async () => {
    const h = await withRoot();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['../outside/nope.txt'] });
    expect(resultText(result)).toContain('outside the allowed roots');
    const missing = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['nope.txt'] });
    expect(resultText(missing)).toMatch(/files\[0\] 'nope\.txt': no such file/);
  });

  it('uses the roots the client offers instead of the configured ones', async () => {
    const h = await start({ config: { files: { roots: [root] } }, clientRoots: [offered] });
    const ok = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['client.md'] });
    expect(ok.isError).toBeFalsy();
    expect(h.upstream.requests[0]!.body.messages[0].content[0].text).toBe('<file path="client.md">\n# offered by the client\n</file>');
    const refused = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: [join(root, 'src', 'app.ts')] });
    expect(refused.isError).toBe(true);
    expect(resultText(refused)).toContain(`outside the allowed roots (${offered})`);
  });

  it('a remote caller (HTTP principal) reads only from files.roots, never the working directory', async () => {
    const alice = { name: 'alice', admin: false };
    const bare = await start();
    await expect(bare.created.service.chat({ prompt: 'x', model: 'gpt-4o-mini', files: ['package.json'] }, { principal: alice })).rejects.toThrow(
      /over the HTTP gateway, files are read only from files\.roots/,
    );
    const h = await withRoot();
    const result = await h.created.service.chat({ prompt: 'x', model: 'gpt-4o-mini', files: ['src/app.ts'] }, { principal: alice, roots: async () => [offered] });
    expect(result.content).toMatch(/^echo: <file path="src\/app.ts">/);
    expect(h.upstream.requests[0]!.body.messages[0].content[0].text).toContain('export const answer = 42;');
    expect(bare.upstream.requests).toHaveLength(0);
  });

  it('without client roots or config, the working directory is the root', async () => {
    const h = await start();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: [join(outside, 'secret.txt')] });
    expect(resultText(result)).toContain(`outside the allowed roots (${process.cwd()})`);
  });
});

describe('caps and the budget', () => {
  it('refuses a file over the per-file cap and files over the per-call cap', async () => {
    const h = await withRoot({ maxFileBytes: 1000, maxCallBytes: 60 });
    const big = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['big.txt'] });
    expect(resultText(big)).toMatch(/files\[0\] 'big\.txt' is 4 KiB, over the 1000 bytes limit per file \(files\.maxFileBytes/);
    const many = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'x', files: ['src/app.ts', 'src/app.ts', 'src/app.ts'] });
    expect(resultText(many)).toMatch(/together the files exceed .* per call \(the limit is files\.maxCallBytes/);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it("a large file's tokens are held against the budget while the call runs", async () => {
    // 300k characters ≈ 100k tokens at $0.15/M = $0.015, plus 1000 output tokens: over the $0.01 cap.
    writeFileSync(join(root, 'large.txt'), 'word '.repeat(60_000));
    const run = async (files: string[] | undefined) => {
      const h = await start({ config: { files: { roots: [root] }, budget: { dailyUsd: 0.01 } } });
      h.upstream.enqueue({ kind: 'openai', delayMs: 400 });
      const first = h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'long one', max_tokens: 1000, ...(files ? { files } : {}) });
      await h.upstream.waitForRequests(1);
      const second = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'short', max_tokens: 10 });
      expect((await first).isError).toBeFalsy();
      return second;
    };
    expect((await run(undefined)).isError).toBeFalsy();
    const refused = await run(['large.txt']);
    expect(refused.isError).toBe(true);
    expect(resultText(refused)).toMatch(/Daily budget of \$0\.01/);
  });
});

describe('streaming', () => {
  it('a streamed call with an image sends the same parts and relays the answer', async () => {
    const h = await withRoot();
    const notices: string[] = [];
    const result = await h.callTool(
      'chat',
      { model: 'claude-haiku-4-5', prompt: 'Describe', files: ['pixel.png'] },
      { onprogress: (p) => void notices.push(p.message ?? '') },
    );
    expect(result.isError).toBeFalsy();
    const body = h.upstream.requests[0]!.body;
    expect(body.stream).toBe(true);
    expect(body.messages[0].content[0].type).toBe('image');
    expect(notices.join('')).toContain('echo: Describe');
    expect(structured(result).content).toBe('echo: Describe');
  });
});
