import type { IncomingMessage } from 'node:http';

/** The body is over the cap; the request is refused (413) without reading the rest. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body over ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body as UTF-8, refusing it as soon as it passes `maxBytes` (declared or sent):
 * past the cap the request is destroyed, so the rest is never taken in. Read with the stream's
 * own events rather than `for await`, whose async iterator costs every request more than the
 * reading (see BENCHMARKS.md, http).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(new BodyTooLargeError(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | undefined): void => {
      req.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (error !== undefined) reject(error);
      else resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8'));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.destroy();
      settle(new BodyTooLargeError(maxBytes));
    };
    const onEnd = (): void => settle(undefined);
    // The client went away before the body ended.
    const onClose = (): void => settle(new Error('the request closed before its body ended'));
    req.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}
