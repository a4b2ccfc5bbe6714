/**
 * Reads the `files` of a chat call, only from under the allowed roots: the MCP client's roots,
 * else `files.roots` from the config file, else the server's working directory. A host model can
 * be talked into asking for ~/.ssh/id_rsa; the roots are what stops it, so every path is resolved
 * (symlinks included) before the check, and a refusal names the roots.
 */
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { LlmError } from './errors.js';
import { sniffFile } from './sniff-file.js';
import type { Attachment } from './types.js';

export interface FileLimits {
  /** Largest file read, in bytes. */
  maxFileBytes: number;
  /** Largest total of all files of one call, in bytes. */
  maxCallBytes: number;
  /** Most files in one call. */
  maxFiles: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = { maxFileBytes: 5 * 1024 * 1024, maxCallBytes: 20 * 1024 * 1024, maxFiles: 20 };

function refuse(message: string): LlmError {
  return new LlmError(message, { kind: 'invalid-request', retryable: false });
}

/** 512 bytes, 4 KiB, 5 MiB: sizes as a person reads them. */
function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round((bytes / 1024) * 10) / 10} KiB`;
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

/** Whether `child` is `root` or lies under it (both already real paths). */
function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** The roots as real paths; a root that does not exist is dropped (nothing can be under it). */
async function realRoots(roots: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots) {
    try {
      out.push(await realpath(resolve(root)));
    } catch {
      // A configured or offered root that is missing grants nothing.
    }
  }
  return out;
}

/**
 * Reads each path as an attachment. Relative paths resolve against the first root. Throws an
 * `invalid-request` LlmError naming the file and the reason (outside the roots, missing, too
 * large, not a regular file, binary of an unsupported kind).
 */
export async function readAttachments(paths: string[], roots: string[], limits: FileLimits = DEFAULT_FILE_LIMITS): Promise<Attachment[]> {
  if (paths.length === 0) return [];
  if (paths.length > limits.maxFiles) {
    throw refuse(`files: ${paths.length} files given; at most ${limits.maxFiles} can go with one call.`);
  }
  const allowed = await realRoots(roots);
  const rootList = roots.join(', ') || '(none)';
  if (allowed.length === 0) {
    throw refuse(`files: none of the allowed roots exists (${rootList}); set files.roots in the config file or offer roots from the MCP client.`);
  }
  const attachments: Attachment[] = [];
  let total = 0;
  for (const [index, path] of paths.entries()) {
    const label = `files[${index}] '${path}'`;
    const absolute = resolve(allowed[0]!, path);
    let real: string;
    try {
      real = await realpath(absolute);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Say "outside" before "missing", so a probe cannot learn what exists beyond the roots.
      if (!allowed.some((root) => isInside(root, absolute))) throw outsideRoots(label, rootList);
      throw refuse(`${label}: ${code === 'ENOENT' ? 'no such file' : `cannot be opened (${code ?? 'error'})`}. Relative paths start at ${allowed[0]}.`);
    }
    if (!allowed.some((root) => isInside(root, real))) throw outsideRoots(label, rootList);
    const bytes = await readCapped(real, label, limits.maxFileBytes);
    total += bytes.length;
    if (total > limits.maxCallBytes) {
      throw refuse(`files: together the files exceed ${formatBytes(limits.maxCallBytes)} per call (the limit is files.maxCallBytes in the config file); send fewer or smaller files.`);
    }
    const sniffed = sniffFile(bytes);
    switch (sniffed.kind) {
      case 'text':
        attachments.push({ kind: 'text', path, text: sniffed.text });
        break;
      case 'image':
        attachments.push({ kind: 'image', path, mediaType: sniffed.mediaType, base64: bytes.toString('base64'), width: sniffed.width, height: sniffed.height });
        break;
      case 'pdf':
        attachments.push({ kind: 'pdf', path, base64: bytes.toString('base64'), pages: sniffed.pages });
        break;
      case 'binary':
        throw refuse(`${label} was not sent: ${sniffed.reason}. Only text files, PNG, JPEG, GIF and WebP images, and PDFs can be sent.`);
    }
  }
  return attachments;
}

function outsideRoots(label: string, rootList: string): LlmError {
  return refuse(
    `${label} is outside the allowed roots (${rootList}), so it was not read. Only files under them can be sent; the roots come from the MCP client (roots/list), else files.roots in the config file, else the server's working directory.`,
  );
}

/** Reads a regular file of at most `maxBytes`; a FIFO or device is refused before it can block. */
async function readCapped(real: string, label: string, maxBytes: number): Promise<Buffer> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const handle = await open(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((error: NodeJS.ErrnoException) => {
    throw refuse(`${label}: cannot be opened (${error.code ?? 'error'}).`);
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refuse(`${label} is not a regular file (a directory, device or pipe cannot be sent).`);
    if (stat.size > maxBytes) {
      throw refuse(`${label} is ${formatBytes(stat.size)}, over the ${formatBytes(maxBytes)} limit per file (files.maxFileBytes in the config file).`);
    }
    // Read at most one byte more than allowed: a file that grew since stat is still caught.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw refuse(`${label} is over the ${formatBytes(maxBytes)} limit per file (files.maxFileBytes in the config file).`);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
