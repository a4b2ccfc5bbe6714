/**
 * What kind of file a buffer holds, judged by its bytes rather than its name: a file called
 * `notes.txt` that is really a PNG must go as an image, and a renamed binary must not be sent as
 * text. Pure; image sizes come from the headers alone (no decoding).
 */
import type { ImageMediaType } from './types.js';

export type SniffedFile =
  | { kind: 'image'; mediaType: ImageMediaType; width?: number; height?: number }
  | { kind: 'pdf'; pages: number }
  | { kind: 'text'; text: string }
  | { kind: 'binary'; reason: string };

/** Classifies file bytes as an image (PNG, JPEG, GIF, WebP), a PDF, UTF-8 text or other binary. */
export function sniffFile(bytes: Buffer): SniffedFile {
  const image = sniffImage(bytes);
  if (image) return image;
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') return { kind: 'pdf', pages: countPdfPages(bytes) };
  return sniffText(bytes);
}

function sniffImage(bytes: Buffer): SniffedFile | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) {
    return { kind: 'image', mediaType: 'image/png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return { kind: 'image', mediaType: 'image/jpeg', ...jpegSize(bytes) };
  }
  const head = bytes.subarray(0, 6).toString('latin1');
  if (head === 'GIF87a' || head === 'GIF89a') {
    return { kind: 'image', mediaType: 'image/gif', ...(bytes.length >= 10 ? { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) } : {}) };
  }
  if (bytes.length >= 16 && bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') {
    return { kind: 'image', mediaType: 'image/webp', ...webpSize(bytes) };
  }
  return undefined;
}

/** Walks the JPEG markers to the first start-of-frame, which holds the size. */
function jpegSize(bytes: Buffer): { width?: number; height?: number } {
  let offset = 2;
  // Bounded by the buffer: every step moves forward by at least 2 bytes.
  while (offset + 9 < bytes.length) {
    if (bytes[offset] !== 0xff) return {};
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++;
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    const isStartOfFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isStartOfFrame) return { height: bytes.readUInt16BE(offset + 5), width: bytes.readUInt16BE(offset + 7) };
    if (length < 2) return {};
    offset += 2 + length;
  }
  return {};
}

function webpSize(bytes: Buffer): { width?: number; height?: number } {
  const chunk = bytes.subarray(12, 16).toString('latin1');
  if (chunk === 'VP8X' && bytes.length >= 30) {
    return { width: 1 + bytes.readUIntLE(24, 3), height: 1 + bytes.readUIntLE(27, 3) };
  }
  if (chunk === 'VP8 ' && bytes.length >= 30) {
    return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L' && bytes.length >= 25) {
    const bits = bytes.readUInt32LE(21);
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
  }
  return {};
}

/**
 * Pages of a PDF, for the budget estimate: page objects counted directly, or the largest page-tree
 * `/Count`. Compressed object streams can hide both, so the answer is at least 1.
 */
export function countPdfPages(bytes: Buffer): number {
  const text = bytes.toString('latin1');
  const pageObjects = text.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0;
  let treeCount = 0;
  for (const match of text.matchAll(/\/Count\s+(\d+)/g)) treeCount = Math.max(treeCount, Number(match[1]));
  return Math.max(1, pageObjects, treeCount);
}

function sniffText(bytes: Buffer): SniffedFile {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return { kind: 'binary', reason: 'it is not UTF-8 text, nor a PNG, JPEG, GIF or WebP image, nor a PDF' };
  }
  // Valid UTF-8 can still be binary (NUL bytes, control characters): text has few of them.
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0) return { kind: 'binary', reason: 'it contains NUL bytes (a binary format, not text)' };
    if (code < 32 && code !== 9 && code !== 10 && code !== 13 && code !== 12) control++;
  }
  if (control > Math.max(8, text.length / 100)) {
    return { kind: 'binary', reason: 'it holds many control characters (a binary format, not text)' };
  }
  return { kind: 'text', text };
}
