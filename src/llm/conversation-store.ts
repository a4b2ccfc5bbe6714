/**
 * `chat`'s conversation threads: what a call with `conversation_id` sends before its new turn,
 * and what it keeps afterwards. Threads live in the ledger's database (ledger.ts), so they survive
 * restarts and are shared by every instance of a team gateway; a thread belongs to the principal
 * that started it (null = a local stdio caller) and no one else can read or continue it.
 *
 * History is kept in our neutral message shape (types.ts), so a thread may switch model and
 * provider between turns: each adapter converts the same messages, tool calls included.
 */
import type { Ledger, StoredThread, ThreadTurn } from '../ledger/ledger.js';
import { timeOrderedUuid } from '../ledger/time-ordered-id.js';
import type { Logger } from '../logger.js';
import type { ModelDefinition } from '../registry/catalog.js';
import { LlmError } from './errors.js';
import type { ChatInput, ChatResult } from './llm-service.js';
import { trimTurns } from './trim-thread.js';
import type { ChatMessage } from './types.js';

// Output room assumed when neither the call nor the catalog gives a limit (as build-request.ts).
const FALLBACK_MAX_TOKENS = 4096;
// Expired threads are deleted at most this often per process (expiry itself is checked on read).
const SWEEP_INTERVAL_MS = 3_600_000;

/** One call's part of a thread: the input to send, and what to keep when it is answered. */
export interface ThreadCall {
  /** The call's input with the thread's history, system message and tools in front. */
  input: ChatInput;
  /** The thread's id; undefined with `store: false` and no `conversation_id`. */
  id?: string;
  /** Whether the turn is kept once answered. */
  store: boolean;
  /** This call's own messages (not the history), kept as the turn. */
  newMessages: ChatMessage[];
  notes: string[];
}

/**
 * A thread opened for a call, before it is fitted to a model: chat_many opens one and fits it to
 * each of its models (each has its own context window), then keeps one turn.
 */
export interface OpenThread {
  /** The thread's id; undefined with `store: false` and no `conversation_id`. */
  id?: string;
  store: boolean;
  /** The stored thread being continued; undefined for a new one. */
  stored?: StoredThread;
}

export class ConversationStore {
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: { ledger: Ledger; idleMs: number; now: () => number; logger?: Logger },
  ) {}

  /**
   * Prepares a call: a new thread id, or the stored thread in front of the new turn, trimmed
   * from its oldest turns to fit `model`'s context window.
   */
  async begin(input: ChatInput, principal: string | null, model: ModelDefinition): Promise<ThreadCall> {
    return this.fit(await this.open(input, principal), input, model);
  }

  /**
   * A new thread id, or the stored thread. Refuses an unknown, expired or someone else's thread
   * (the last two read as unknown to the caller: they reveal nothing).
   */
  async open(input: Pick<ChatInput, 'conversation_id' | 'store'>, principal: string | null): Promise<OpenThread> {
    const store = input.store !== false;
    if (input.conversation_id === undefined) return { id: store ? timeOrderedUuid(this.deps.now()) : undefined, store };
    const id = input.conversation_id;
    const thread = await this.deps.ledger.loadThread(id);
    const idleDays = formatDays(this.deps.idleMs);
    if (!thread || thread.principal !== principal) {
      throw new LlmError(`No conversation '${id}' (threads expire after ${idleDays} without a turn): omit conversation_id to start a new one`, {
        kind: 'invalid-request',
        retryable: false,
      });
    }
    if (this.deps.now() - thread.updatedAt > this.deps.idleMs) {
      throw new LlmError(`Conversation '${id}' expired after ${idleDays} without a turn: omit conversation_id to start a new one`, {
        kind: 'invalid-request',
        retryable: false,
      });
    }
    return { id, store, stored: thread };
  }

  /** The opened thread's history in front of `input`'s new turn, trimmed to fit `model`. */
  fit(open: OpenThread, input: ChatInput, model: ModelDefinition): ThreadCall {
    const { id, store, stored: thread } = open;
    const newMessages = newMessagesOf(input);
    if (thread === undefined) return { input, id, store, newMessages, notes: [] };
    const system = input.system ?? thread.system ?? undefined;
    const fixed: ChatMessage[] = [...(system ? [{ role: 'system' as const, content: system }] : []), ...newMessages];
    const notes: string[] = [];
    let turns = thread.turns;
    if (model.contextWindow !== null) {
      const room = model.contextWindow - (input.max_tokens ?? model.maxOutputTokens ?? FALLBACK_MAX_TOKENS);
      const trimmed = trimTurns(turns, fixed, room);
      turns = trimmed.kept;
      if (trimmed.dropped > 0) {
        notes.push(`${trimmed.dropped} earlier turn${trimmed.dropped === 1 ? ' was' : 's were'} left out to fit ${model.id}'s context window`);
      }
    }
    const withHistory: ChatInput = {
      ...input,
      prompt: undefined,
      messages: [...turns.flat(), ...newMessages],
      system,
      // A thread keeps its tools: a model shown tool calls in the history needs their definitions.
      tools: input.tools ?? thread.tools ?? undefined,
    };
    return { input: withHistory, id, store, newMessages, notes };
  }

  /**
   * The turn a call keeps once answered (its own messages, then the answer), or undefined when
   * the call keeps none. The service hands it to `ledger.record()` with the answering call's row,
   * so both are written in one transaction (see keepsTurnWithRow in llm-service.ts).
   */
  turnOf(
    call: Pick<ThreadCall, 'id' | 'store' | 'newMessages'>,
    input: ChatInput,
    principal: string | null,
    answer: Pick<ChatResult, 'content' | 'tool_calls'>,
  ): ThreadTurn | undefined {
    if (!call.store || call.id === undefined) return undefined;
    const reply: ChatMessage =
      answer.tool_calls.length > 0 ? { role: 'assistant', content: answer.content, tool_calls: answer.tool_calls } : { role: 'assistant', content: answer.content };
    return {
      id: call.id,
      principal,
      at: this.deps.now(),
      system: input.system,
      tools: input.tools && input.tools.length > 0 ? input.tools : undefined,
      messages: [...call.newMessages.map(withoutAttachments), reply],
    };
  }

  /**
   * Keeps the answered turn on its own (chat_many's one turn for several calls, or a turn whose
   * row the ledger refused). The answer is already paid for, so a database that fails here
   * costs the host a note, not the answer.
   */
  async finish(call: Pick<ThreadCall, 'id' | 'store' | 'newMessages'>, input: ChatInput, principal: string | null, result: ChatResult): Promise<string | undefined> {
    const turn = this.turnOf(call, input, principal, result);
    if (turn === undefined) return undefined;
    try {
      await this.sweep(turn.at);
      await this.deps.ledger.appendTurn(turn);
      return undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.deps.logger?.error(`conversations: could not keep the turn of ${turn.id}: ${message}`);
      return `this turn could not be kept in conversation ${turn.id} (${message})`;
    }
  }

  /** After a turn kept with its row: the hourly sweep of expired threads, whose failure is only logged. */
  async sweepQuietly(): Promise<void> {
    try {
      await this.sweep(this.deps.now());
    } catch (error) {
      this.deps.logger?.error(`conversations: could not delete expired threads: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Deletes the expired threads, at most once an hour per process. */
  private async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    const removed = await this.deps.ledger.deleteThreadsIdleSince(now - this.deps.idleMs);
    if (removed > 0) this.deps.logger?.info(`conversations: ${removed} expired thread${removed === 1 ? '' : 's'} deleted`);
  }
}

/** The call's own messages (not the history): what its turn keeps. */
export function newMessagesOf(input: ChatInput): ChatMessage[] {
  return input.prompt !== undefined ? [{ role: 'user', content: input.prompt }] : (input.messages ?? []);
}

// Files are read for one call: a thread keeps the message, not the file's bytes.
function withoutAttachments(message: ChatMessage): ChatMessage {
  if (message.role !== 'user' || !message.attachments) return message;
  return { role: 'user', content: message.content };
}

function formatDays(ms: number): string {
  const days = ms / 86_400_000;
  if (days >= 1) return `${Number(days.toFixed(2))} day${days === 1 ? '' : 's'}`;
  return `${Number((ms / 3_600_000).toFixed(2))} h`;
}
