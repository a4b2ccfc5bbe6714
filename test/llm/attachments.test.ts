/** Pure parts of `files`: sniffing a file's kind and size, and the image/PDF token estimates the budget holds. */
import { describe, expect, it } from 'vitest';
import { anthropicImageTokens, attachmentTokens, openAIImageTokens } from '../../src/llm/attachment-tokens.js';
import { worstCaseMicroUsd } from '../../src/llm/build-request.js';
import { sniffFile } from '../../src/llm/sniff-file.js';
import { BUILT_IN_MODELS } from '../../src/registry/catalog.js';

function png(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

describe('sniffFile', () => {
  it('reads image kinds and sizes from their headers', () => {
    expect(sniffFile(png(640, 480))).toEqual({ kind: 'image', mediaType: 'image/png', width: 640, height: 480 });
    const gif = Buffer.alloc(13);
    gif.write('GIF89a', 0, 'latin1');
    gif.writeUInt16LE(300, 6);
    gif.writeUInt16LE(200, 8);
    expect(sniffFile(gif)).toEqual({ kind: 'image', mediaType: 'image/gif', width: 300, height: 200 });
    // JPEG: SOI, an APP0 segment, then SOF0 with height 120 and width 160.
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x78, 0x00, 0xa0, 0x03, 0, 0, 0, 0]);
    expect(sniffFile(jpeg)).toEqual({ kind: 'image', mediaType: 'image/jpeg', width: 160, height: 120 });
    const webp = Buffer.alloc(30);
    webp.write('RIFF', 0, 'latin1');
    webp.write('WEBPVP8X', 8, 'latin1');
    webp.writeUIntLE(1023, 24, 3);
    webp.writeUIntLE(767, 27, 3);
    expect(sniffFile(webp)).toEqual({ kind: 'image', mediaType: 'image/webp', width: 1024, height: 768 });
  });

  it('a renamed image is still an image, a PDF counts its pages, text is text, other bytes are binary', () => {
    expect(sniffFile(Buffer.from('%PDF-1.7\n<</Type /Pages /Count 12>>\n<</Type /Page>>', 'latin1'))).toEqual({ kind: 'pdf', pages: 12 });
    expect(sniffFile(Buffer.from('\ufeffconst a = "é";\n', 'utf8'))).toEqual({ kind: 'text', text: 'const a = "é";\n' });
    expect(sniffFile(Buffer.from([0xc3, 0x28]))).toMatchObject({ kind: 'binary' });
    expect(sniffFile(Buffer.from('abc\u0000def'))).toMatchObject({ kind: 'binary', reason: expect.stringContaining('NUL') });
  });
});

describe('image tokens', () => {
  it("follow Anthropic's rule: long edge at most 1568 px, about 1.15 MP, w×h/750", () => {
    expect(anthropicImageTokens(1000, 1000)).toBe(1334);
    expect(anthropicImageTokens(200, 200)).toBe(54);
    // 4000×3000 shrinks to about 1.15 MP: at most ~1534 tokens.
    expect(anthropicImageTokens(4000, 3000)).toBeGreaterThan(1500);
    expect(anthropicImageTokens(4000, 3000)).toBeLessThanOrEqual(1534);
  });

  it("follow OpenAI's tile and patch rules per model", () => {
    expect(openAIImageTokens(1024, 1024, 'gpt-4o')).toBe(85 + 170 * 4);
    expect(openAIImageTokens(1024, 1024, 'gpt-4o-mini')).toBe(2833 + 5667 * 4);
    expect(openAIImageTokens(1024, 1024, 'gpt-5')).toBe(70 + 140 * 4);
    expect(openAIImageTokens(1024, 1024, 'gpt-4.1-mini')).toBe(Math.ceil(1024 * 1.62));
    expect(openAIImageTokens(4096, 4096, 'gpt-4.1-mini')).toBe(Math.ceil(1536 * 1.62));
    expect(openAIImageTokens(512, 512, 'llama-vision')).toBe(85 + 170);
  });

  it('an image of unknown size and a PDF count high', () => {
    const unknown = attachmentTokens({ kind: 'image', path: 'x.webp', mediaType: 'image/webp', base64: '' }, 'anthropic', 'claude');
    expect(unknown).toBeGreaterThanOrEqual(1500);
    expect(attachmentTokens({ kind: 'pdf', path: 'a.pdf', base64: '', pages: 3 }, 'anthropic', 'claude')).toBeGreaterThanOrEqual(3 * 3000);
  });
});

describe('worstCaseMicroUsd with files', () => {
  it("adds the files' tokens at the input price", () => {
    const model = BUILT_IN_MODELS.find((m) => m.id === 'gpt-4o')!;
    const bare = { providerModel: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 10 };
    const withImage = {
      ...bare,
      messages: [{ role: 'user' as const, content: 'hi', attachments: [{ kind: 'image' as const, path: 'p.png', mediaType: 'image/png' as const, base64: '', width: 1024, height: 1024 }] }],
    };
    // 765 image tokens at $2.50 per million = 1912.5 micro-dollars.
    expect(worstCaseMicroUsd(model, withImage, 'openai') - worstCaseMicroUsd(model, bare, 'openai')).toBeCloseTo(1912.5, -1);
    const text = { ...bare, messages: [{ role: 'user' as const, content: 'hi', attachments: [{ kind: 'text' as const, path: 'a', text: 'x'.repeat(30_000) }] }] };
    expect(worstCaseMicroUsd(model, text, 'openai') - worstCaseMicroUsd(model, bare, 'openai')).toBeGreaterThan(10_000 * 2.5);
  });
});
