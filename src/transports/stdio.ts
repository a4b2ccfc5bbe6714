import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../logger.js';
import { checkIncomingMessage } from './check-message.js';
import { TopLevelIdScanner } from './top-level-id-scanner.js';

export interface StdioTransportOptions {
  input?: Readable;
  output?: Writable;
  /** The longest line (one JSON-RPC message) accepted, in bytes (Settings.maxMessageBytes). */
  maxMessageBytes: number;
  logger?: Logger;
}

const NEWLINE = 0x0a;

/**
 * MCP over stdin/stdout, one JSON-RPC message a line. It replaces the SDK's StdioServerTransport,
 * which closes the whole connection (and so ends the process, losing every call in flight) when
 * one line passes its 10 MB buffer, and drops malformed requests without an answer. Here a line
 * over the limit is skipped as it streams in (never held whole) and answered with an error that
 * names the limit; every request whose id can be read gets an answer; nothing read ends the
 * connection except the end of stdin.
 */
export class StdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly input: Readable;
  private readonly output: Writable;
  private readonly maxMessageBytes: number;
  private readonly logger?: Logger;
  private started = false;
  private closed = false;
  /** The current line's bytes so far; joined once at its newline (no copying per chunk). */
  private chunks: Buffer[] = [];
  private lineBytes = 0;
  /** Set while the current line is over the limit: it is scanned for its id, not kept. */
  private oversized?: TopLevelIdScanner;

  constructor(options: StdioTransportOptions) {
    this.input = options.input ?? process.stdin;
    this.output = options.output ?? process.stdout;
    this.maxMessageBytes = options.maxMessageBytes;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('StdioServerTransport already started');
    this.started = true;
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return;
    const line = `${JSON.stringify(message)}\n`;
    await new Promise<void>((resolve) => {
      if (this.output.write(line)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.chunks = [];
    this.oversized = undefined;
    this.onclose?.();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    while (start <= bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      const end = newline === -1 ? bytes.length : newline;
      if (end > start) this.take(bytes.subarray(start, end));
      if (newline === -1) break;
      this.endLine();
      start = newline + 1;
    }
  };

  private take(piece: Buffer): void {
    this.lineBytes += piece.length;
    if (this.oversized) {
      this.oversized.scan(piece);
      return;
    }
    if (this.lineBytes > this.maxMessageBytes) {
      // Too long: from here on only the id is looked for, so memory stays at the limit.
      this.oversized = new TopLevelIdScanner();
      for (const kept of this.chunks) this.oversized.scan(kept);
      this.oversized.scan(piece);
      this.chunks = [];
      return;
    }
    this.chunks.push(piece);
  }

  private endLine(): void {
    const lineBytes = this.lineBytes;
    const oversized = this.oversized;
    const chunks = this.chunks;
    this.chunks = [];
    this.lineBytes = 0;
    this.oversized = undefined;
    if (oversized) {
      this.refuse(
        oversized.id(),
        ErrorCode.InvalidRequest,
        `Message too large: ${lineBytes} bytes, over the limit of ${this.maxMessageBytes} bytes (${formatMiB(this.maxMessageBytes)}) for one JSON-RPC message. ` +
          'Send a shorter prompt or fewer messages, or raise maxMessageBytes in the config file.',
      );
      return;
    }
    const line = Buffer.concat(chunks, lineBytes).toString('utf8').replace(/\r$/, '');
    if (line.trim() === '') return;
    const checked = checkIncomingMessage(line);
    if (checked.ok) {
      this.onmessage?.(checked.message);
      return;
    }
    this.refuse(checked.id, checked.code, checked.reason);
  }

  /** Answers a fault under the sender's id; one without a readable id can only be logged. */
  private refuse(id: RequestId | undefined, code: number, reason: string): void {
    if (id === undefined) {
      // JSON-RPC would answer with id null, which MCP's schema (and so every SDK client) rejects.
      this.logger?.warn(`ignored a message with no usable id: ${reason}`);
      return;
    }
    this.logger?.debug(`answered a request with error ${code}: ${reason}`);
    void this.send({ jsonrpc: '2.0', id, error: { code, message: reason } });
  }
}

function formatMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${mib.toFixed(2)} MiB`;
}
