import { randomUUID } from 'node:crypto';
import { isProviderConfigured, type Settings } from '../config.js';
import { logsAt, type Logger } from '../logger.js';
import { formatUsd, microToUsd } from '../ledger/cost.js';
import { LedgerSpooledError, type CallRecord, type CostReport, type GroupBy, type Ledger, type PrincipalBudget, type Reservation, type ThreadTurn } from '../ledger/ledger.js';
import type { Principal } from '../principal.js';
import { parseTimeBound } from '../ledger/time-span.js';
import type { ProviderDefinition } from '../registry/catalog.js';
import type { ModelRegistry, ResolvedModel } from '../registry/registry.js';
import { defaultModelAt, isRetired, retiredMessage, retirementWarning } from '../registry/retirement.js';
import { withRetry } from '../retry.js';
import { addCost, billOfAnswer, billOfFailure, costOfAttempts, type AttemptBill } from './call-cost.js';
import { maxTokensOfCall } from './check-usage.js';
import { scrubProviderJson } from './scrub-provider-json.js';
import { fitJsonBytes, jsonBytes } from './answer-size.js';
import { describeFailure } from './describe-error.js';
import { formatSeconds, LlmError, redactSecrets } from './errors.js';
import { adaptRequest, buildMessages, normalizeToolChoice, worstCaseMicroUsd } from './build-request.js';
import { InFlightCalls, type DrainOutcome, type InFlightCall } from './in-flight-calls.js';
import { readAttachments } from './files.js';
import { fallbackScope } from './fallback-scope.js';
import { ConversationStore, newMessagesOf, type OpenThread } from './conversation-store.js';
import { prepareJsonAnswer, readJsonAnswer, repairMessage, type JsonAnswerPlan, type JsonAnswerSpec, type ResponseFormatInput } from './json-answer.js';
import { DEFAULT_HEARTBEAT_MS, ProgressRelay, type ProgressNotice } from './progress-relay.js';
import type { ChatMessage, ChatRequest, ReasoningEffort, ChatResponse, FinishReason, ProviderAdapter, ToolCall, ToolChoice, ToolDefinition } from './types.js';
import { emptyUsage } from './types.js';

/** The `chat` tool's input after schema checks. */
export interface ChatInput {
  prompt?: string;
  messages?: ChatMessage[];
  system?: string;
  model?: string;
  temperature?: number;
  max_tokens?: number;
  stop?: string | string[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice | string;
  fallback_models?: string[];
  /** Local paths sent with the last user message (see files.ts). */
  files?: string[];
  reasoning_effort?: ReasoningEffort;
  response_format?: ResponseFormatInput;
  /** Continue this stored thread (conversation-store.ts). */
  conversation_id?: string;
  /** false: keep no thread for this call. */
  store?: boolean;
}

/** The `chat` tool's structured result (SPEC §4). */
export interface ChatResult {
  content: string;
  tool_calls: ToolCall[];
  model: string;
  provider: string;
  provider_model: string;
  finish_reason: FinishReason;
  /** `reasoning_tokens` (part of completion_tokens) is present when the model reported reasoning. */
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number; total_tokens: number; reasoning_tokens?: number };
  cost_usd: number | null;
  attempts: number;
  latency_ms: number;
  call_id: string;
  /** With response_format: the parsed answer, validated against the schema. */
  json?: unknown;
  /** The thread this call was a turn of. */
  conversation_id?: string;
  notes?: string[];
  /** Models that failed before the one that answered: `gpt-4o (503, 3 attempts)`. */
  fallback_from?: string[];
}

export interface ChatHooks {
  /** Aborted when the host cancels the call. */
  signal?: AbortSignal;
  /** Present when the host asked for progress: the answer is then streamed and relayed. */
  progress?: (notice: ProgressNotice) => void | Promise<void>;
  /** The roots the MCP client offers, when it has the roots capability (else undefined). */
  roots?: () => Promise<string[] | undefined>;
  /** Who is calling (HTTP gateway); recorded on the ledger row, held to its own caps. */
  principal?: Principal;
  /** Set by the service: the thread the call's ledger rows belong to. */
  conversationId?: string;
  /** A budget hold taken for this call's first model before it started (chat_many); used once. */
  heldReservation?: { take(): number | undefined };
  /**
   * Told of each ledger row the call writes (one per model tried, answered or not) with the cost
   * recorded on it: chat_many's total counts failed and cancelled models' billed tokens too.
   */
  onRecorded?: (row: { callId: string; costMicroUsd: number | null }) => void;
  /**
   * A thread opened once for several calls (chat_many, see openThread): its history is sent before
   * the new turn, but the turn is not kept; the caller keeps one answer with keepTurn.
   */
  thread?: OpenThread;
  /** Set by the service: the thread turn the answering call's row carries (see TurnWithRow). */
  turn?: TurnWithRow;
}

/**
 * The turn a `chat` call keeps in its thread, written by `ledger.record()` in the same transaction
 * as the row of the call that answered (one commit per answered call, not two): committed before
 * `chat` returns, so the next call on the thread sees it. `written` says it was (or went to the
 * spool with its row); otherwise `chat` appends it on its own, as chat_many does.
 */
export interface TurnWithRow {
  /** The turn for this answer (content and tool calls as the result carries them). */
  of(answer: Pick<ChatResult, 'content' | 'tool_calls'>): ThreadTurn | undefined;
  written: boolean;
}

export interface ModelInfo {
  id: string;
  aliases: string[];
  provider: string;
  provider_model: string;
  context_window: number | null;
  max_output_tokens: number | null;
  pricing: { input_per_mtok: number | null; output_per_mtok: number | null; cached_input_per_mtok: number | null };
  capabilities: { tools: boolean; vision: boolean; temperature: boolean; reasoning: boolean };
  configured: boolean;
  /** ISO date the price was last checked against the provider; absent for a price set by hand. */
  price_checked?: string;
  /**
   * Present only when something is wrong: `retired 2025-10-22; use claude-sonnet-5-5` (or, before
   * the date, `retires 2026-11-30; use claude-sonnet-5-5`) and/or
   * `${STALE_WARNING}` (the price check is more than 90 days old). One field, to keep the
   * listing small.
   */
  warning?: string;
}

export const STALE_WARNING = 'price checked over 90 days ago';

export interface ModelListing {
  models: ModelInfo[];
  default_model: string;
}

/** The `get_cost` tool's input. */
export interface CostQuery {
  since?: string;
  until?: string;
  model?: string;
  provider?: string;
  conversation_id?: string;
  group_by?: GroupBy;
}

export interface AdapterSource {
  get(provider: ProviderDefinition): Promise<ProviderAdapter>;
}

export interface LlmServiceDeps {
  settings: Settings;
  registry: ModelRegistry;
  adapters: AdapterSource;
  ledger: Ledger;
  secrets: string[];
  now?: () => number;
  logger?: Logger;
  /** Longest silence in a call with a progress token before a heartbeat; tests shorten it. */
  heartbeatMs?: number;
}

/** What a streamed call is waiting on, for its heartbeat line. */
export interface WaitState {
  model: string;
  provider: string;
  /** When this model's first attempt started. */
  since: number;
  /** Set during a wait before a retry: when the next attempt starts. */
  retryAt?: number;
}

// A model id is a short name; anything longer from a provider is cut before it is stored or returned.
const MAX_PROVIDER_MODEL_CHARS = 200;

/** Resolves the model, sends the call through the one retry loop, streams it, records it. */
export class LlmService {
  private readonly now: () => number;
  private readonly inFlight = new InFlightCalls();
  private readonly conversations: ConversationStore;

  constructor(private readonly deps: LlmServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.conversations = new ConversationStore({ ledger: deps.ledger, idleMs: deps.settings.conversationIdleMs, now: this.now, logger: deps.logger });
  }

  /**
   * Graceful shutdown, whatever the transport: refuses new calls, lets the calls in flight finish
   * for up to `timeoutMs`, then cancels the rest. Every call is recorded (`cancelled` where cut)
   * and its budget hold settled before this resolves (bounded: an adapter that ignores its abort
   * gets a few more seconds).
   */
  drain(timeoutMs: number): Promise<DrainOutcome> {
    return this.inFlight.drain(timeoutMs);
  }

  /**
   * The model a call that names none goes to now: the configured default, except that the built-in
   * one follows its retirement to the replacement (src/registry/retirement.ts, defaultModelAt).
   */
  defaultModel(): string {
    const { settings, registry } = this.deps;
    return defaultModelAt(settings.defaultModel, settings.defaultModelSource, (name) => registry.resolve(name).model, this.now());
  }

  /** Cuts a drain in progress short: the calls still running are cancelled (and recorded) now. */
  cancelInFlight(): void {
    this.inFlight.cancelNow();
  }

  async chat(input: ChatInput, hooks: ChatHooks = {}): Promise<ChatResult> {
    if (this.inFlight.draining) {
      throw new LlmError('The server is shutting down and takes no new calls: send the call again once it has restarted', {
        kind: 'cancelled',
        retryable: false,
      });
    }
    const call = this.inFlight.start(hooks.signal, this.deps.settings.callTimeoutMs);
    try {
      const principal = hooks.principal?.name ?? null;
      const model = this.deps.registry.resolve(input.model ?? this.defaultModel()).model;
      const thread = hooks.thread ? this.conversations.fit(hooks.thread, input, model) : await this.conversations.begin(input, principal, model);
      const turn: TurnWithRow | undefined =
        hooks.thread || !thread.store || thread.id === undefined
          ? undefined
          : { of: (answer) => this.conversations.turnOf(thread, input, principal, answer), written: false };
      const result = await this.runChat(thread.input, { ...hooks, signal: call.signal, conversationId: thread.store ? thread.id : undefined, turn }, call);
      if (thread.id === undefined) return result;
      let keepNote: string | undefined;
      // The turn went with the row (one transaction); if the row was refused, it is kept on its own.
      if (turn?.written) await this.conversations.sweepQuietly();
      else if (!hooks.thread) keepNote = await this.conversations.finish(thread, input, principal, result);
      const notes = [...thread.notes, ...(result.notes ?? []), ...(keepNote ? [keepNote] : [])];
      return { ...result, conversation_id: thread.id, ...(notes.length > 0 ? { notes } : {}) };
    } finally {
      call.done();
    }
  }

  private async runChat(input: ChatInput, hooks: ChatHooks, call: InFlightCall): Promise<ChatResult> {
    const messages = buildMessages(input);
    if (input.files && input.files.length > 0) await this.attachFiles(messages, input.files, hooks);
    const tools = input.tools && input.tools.length > 0 ? input.tools : undefined;
    const toolChoice = normalizeToolChoice(input.tool_choice, tools);
    const jsonAnswer = prepareJsonAnswer(input.response_format);
    const { candidates, notes: retiredNotes } = this.candidates(input);
    const callId = randomUUID();
    const started = this.now();
    const waiting: WaitState = { model: '', provider: '', since: started };
    const relay = hooks.progress
      ? new ProgressRelay({
          intervalMs: this.deps.settings.progressIntervalMs,
          send: hooks.progress,
          heartbeatMs: this.deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
          heartbeat: () => heartbeatLine(waiting, this.now()),
        })
      : undefined;
    // Each model's request, fitted before anything is sent: the primary model must take the
    // request (it is refused here, naming why), a fallback that cannot take it is skipped with a note.
    const fit = { messages, tools, toolChoice, input, jsonAnswer };
    const chain = this.fitChain(candidates, fit);
    // Built by push onto a fresh literal (not filter/map, whose empty results came in other array
    // maps and deoptimised this function twice in the gateway's first calls).
    const skipNotes: string[] = [];
    for (const link of chain) if (link.skipped !== undefined) skipNotes.push(`fallback ${link.resolved.model.id} skipped: ${link.skipped}`);
    const hadFallbacks = candidates.length > 1;
    let attempts = 0;
    // Every model tried has its own ledger row; the result's cost_usd is the sum of them all.
    let spentMicroUsd: number | null = 0;
    const tried: string[] = [];
    // Models that failed before the one that answered, short, for the result's fallback story.
    const fallbackFrom: string[] = [];
    // Providers whose failure every model of theirs would share (a bad key, an unpaid account).
    const refusedProviders = new Map<string, string>();
    let last: { error: LlmError; resolved: ResolvedModel; attempts: number; elapsedMs: number } | undefined;
    try {
      for (const link of chain) {
        const { resolved } = link;
        if (link.skipped !== undefined) continue;
        const refusal = refusedProviders.get(resolved.provider.id);
        if (refusal !== undefined) {
          tried.push(`${resolved.model.id} skipped (${refusal})`);
          continue;
        }
        if (last) relay?.announce(`${tried[tried.length - 1]}; falling back to ${resolved.model.id} (${resolved.provider.id})`);
        Object.assign(waiting, { model: resolved.model.id, provider: resolved.provider.id, since: this.now(), retryAt: undefined });
        const tryCall = { callId, hooks, relay, inFlight: call, waiting };
        let outcome = await this.tryModel(resolved, link.adapted!, tryCall);
        if (outcome.ok && outcome.jsonInvalid) outcome = await this.repairJsonAnswer(resolved, fit, tryCall, outcome, attempts);
        attempts += outcome.attempts;
        spentMicroUsd = addCost(spentMicroUsd, outcome.costMicroUsd);
        if (outcome.ok) {
          const notes: string[] = [];
          for (const note of retiredNotes) notes.push(note);
          for (const note of skipNotes) notes.push(note);
          if (outcome.result.notes) for (const note of outcome.result.notes) notes.push(note);
          const cost_usd = spentMicroUsd === null ? null : microToUsd(spentMicroUsd);
          return {
            ...outcome.result,
            cost_usd,
            ...(notes.length > 0 ? { notes } : {}),
            ...(fallbackFrom.length > 0 ? { fallback_from: fallbackFrom } : {}),
            attempts,
            latency_ms: Math.round(this.now() - started),
          };
        }
        const error = outcome.error;
        if (call.cutByDeadline) throw this.deadlineError(resolved, error, attempts);
        if (call.cutByShutdown) {
          throw new LlmError(`${SHUTDOWN_CUT} (${resolved.model.id}, ${resolved.provider.id}); send it again once the server has restarted`, {
            kind: 'cancelled',
            provider: error.provider,
            retryable: false,
            attempts,
            partialText: error.partialText,
          });
        }
        last = { error, resolved, attempts: outcome.attempts, elapsedMs: outcome.elapsedMs };
        const scope = hooks.signal?.aborted ? 'none' : fallbackScope(error, this.deps.settings.retry.maxDelayMs);
        if (scope === 'none') break;
        if (scope === 'other-provider') refusedProviders.set(resolved.provider.id, `${resolved.provider.id} already failed with ${error.status ?? error.kind}`);
        tried.push(`${resolved.model.id} failed: ${this.scrub(error.message)} (${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'})`);
        fallbackFrom.push(`${resolved.model.id} (${error.status ?? error.kind}, ${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'})`);
      }
      if (!last) throw new LlmError('No model to call', { kind: 'invalid-request', retryable: false });
      const { error, resolved } = last;
      // The failing model's own line is the message's head, not part of "tried before".
      const before = tried.filter((line) => !line.startsWith(`${resolved.model.id} failed: `));
      const untried = chain
        .slice(chain.findIndex((link) => link.resolved === resolved) + 1)
        .filter((link) => link.skipped === undefined && !refusedProviders.has(link.resolved.provider.id))
        .map((link) => link.resolved.model.id);
      let text = describeFailure(error, {
        provider: resolved.provider,
        providerModel: resolved.model.providerModel,
        attempts: last.attempts,
        elapsedMs: last.elapsedMs,
        maxDelayMs: this.deps.settings.retry.maxDelayMs,
        triedModels: before,
        hadFallbacks,
      });
      if (untried.length > 0 && (error.partialText ?? '') === '') text += `. Fallbacks not tried, as this error would recur on them: ${untried.join(', ')}`;
      if (retiredNotes.length + skipNotes.length > 0) text += `. ${[...retiredNotes, ...skipNotes].join('; ')}`;
      throw new LlmError(this.scrub(text), {
        kind: error.kind,
        provider: error.provider,
        status: error.status,
        retryable: false,
        attempts,
        partialText: error.partialText,
      });
    } finally {
      await relay?.close();
    }
  }

  /**
   * Fits the request to each model of the chain. The requested model must take it (else the
   * call is refused before anything is sent, with the reason); a fallback that cannot (no tools,
   * no vision, a message its wire rejects) is marked skipped with the reason.
   */
  private fitChain(
    candidates: ResolvedModel[],
    call: FitInput,
  ): Array<{ resolved: ResolvedModel; adapted: ReturnType<typeof adaptRequest> | undefined; skipped: string | undefined }> {
    // Every link has the same three properties, and the array is a fresh literal pushed onto: one
    // shape for runChat's loops over it from the first call on.
    const chain: Array<{ resolved: ResolvedModel; adapted: ReturnType<typeof adaptRequest> | undefined; skipped: string | undefined }> = [];
    for (let index = 0; index < candidates.length; index++) {
      const resolved = candidates[index]!;
      try {
        chain.push({ resolved, adapted: adaptRequest(resolved.model, resolved.provider, call), skipped: undefined });
      } catch (error) {
        if (index === 0 || !(error instanceof LlmError) || error.kind !== 'invalid-request') throw error;
        chain.push({ resolved, adapted: undefined, skipped: error.message.replace(/[.;]\s.*$/s, '') });
      }
    }
    return chain;
  }

  /**
   * Opens the thread of `input` (a new id, or the stored one, refused if unknown, expired or
   * another principal's) for several calls to share through `hooks.thread` (chat_many).
   */
  openThread(input: Pick<ChatInput, 'conversation_id' | 'store'>, principal: Principal | undefined): Promise<OpenThread> {
    return this.conversations.open(input, principal?.name ?? null);
  }

  /**
   * Keeps `input`'s turn with `result` as its answer in a thread opened by openThread; returns a
   * note when the database could not keep it (the answer is already paid for), else undefined.
   */
  keepTurn(thread: OpenThread, input: ChatInput, principal: Principal | undefined, result: ChatResult): Promise<string | undefined> {
    return this.conversations.finish({ id: thread.id, store: thread.store, newMessages: newMessagesOf(input) }, input, principal?.name ?? null, result);
  }

  /**
   * The worst-case cost (micro-USD) of `input` on its model, as the budget hold of that model's
   * call would take it (files and `hooks.thread`'s history included); throws what the call itself
   * would, e.g. a model that cannot take the request. chat_many holds every model's worst case
   * before contacting any.
   */
  async worstCaseOf(plain: ChatInput, hooks: ChatHooks = {}): Promise<number> {
    const input = hooks.thread ? this.conversations.fit(hooks.thread, plain, this.deps.registry.resolve(plain.model ?? this.defaultModel()).model).input : plain;
    const messages = buildMessages(input);
    if (input.files && input.files.length > 0) await this.attachFiles(messages, input.files, hooks);
    const tools = input.tools && input.tools.length > 0 ? input.tools : undefined;
    const [primary] = this.candidates(input).candidates;
    const { model, provider } = primary!;
    const fit = { messages, tools, toolChoice: normalizeToolChoice(input.tool_choice, tools), input, jsonAnswer: prepareJsonAnswer(input.response_format) };
    return worstCaseMicroUsd(model, adaptRequest(model, provider, fit).request, provider.type === 'anthropic' ? 'anthropic' : 'openai');
  }

  /** The registry's models as `list_models` reports them. */
  listModels(filter: { provider?: string; configuredOnly?: boolean } = {}): ModelListing {
    const { registry, settings } = this.deps;
    if (filter.provider !== undefined && !registry.provider(filter.provider)) {
      const shown = filter.provider.length > 64 ? `${filter.provider.slice(0, 64)}…` : filter.provider;
      throw new LlmError(
        `Unknown provider '${shown}'. Known providers: ${registry.providers().map((p) => p.id).join(', ')}.`,
        { kind: 'invalid-request', retryable: false },
      );
    }
    const models = registry
      .list(filter.provider)
      .map((model): ModelInfo => {
        const provider = registry.provider(model.provider)!;
        return {
          id: model.id,
          aliases: registry.aliasesOf(model.id),
          provider: model.provider,
          provider_model: model.providerModel,
          context_window: model.contextWindow,
          max_output_tokens: model.maxOutputTokens,
          pricing: {
            input_per_mtok: model.pricing.inputPerMTok,
            output_per_mtok: model.pricing.outputPerMTok,
            cached_input_per_mtok: model.pricing.cachedInputPerMTok ?? null,
          },
          capabilities: { ...model.capabilities },
          configured: isProviderConfigured(provider, settings.env),
          ...(model.priceCheckedAt !== null ? { price_checked: model.priceCheckedAt } : {}),
          ...warningOf(model, this.now()),
        };
      })
      .filter((m) => !filter.configuredOnly || m.configured);
    return { models, default_model: this.defaultModel() };
  }

  /**
   * Spend from the ledger, filtered and grouped, with this process's totals and the budget. A
   * principal who is not an admin sees only their own calls and their own budget.
   */
  async costReport(query: CostQuery = {}, principal?: Principal): Promise<CostReport> {
    const ownOnly = principal !== undefined && !principal.admin;
    if (ownOnly && query.group_by === 'principal') {
      throw new LlmError(`group_by 'principal' needs the admin role; ${principal.name} sees only their own calls (use model, provider, day or none)`, {
        kind: 'invalid-request',
        retryable: false,
      });
    }
    const now = this.now();
    const bound = (name: string, value: string | undefined): number | undefined => {
      if (value === undefined) return undefined;
      try {
        return parseTimeBound(value, now);
      } catch (error) {
        throw new LlmError(`${name}: ${(error as Error).message}`, { kind: 'invalid-request', retryable: false });
      }
    };
    return this.deps.ledger.report(
      {
        since: bound('since', query.since),
        until: bound('until', query.until),
        model: query.model === undefined ? undefined : this.deps.registry.canonicalId(query.model),
        provider: query.provider,
        conversationId: query.conversation_id,
        ...(ownOnly ? { principal: principal.name } : {}),
        groupBy: query.group_by ?? 'model',
      },
      ownOnly ? principal.budget : this.deps.settings.budget,
    );
  }

  /**
   * Reads `files` into the last user message. The client's roots win over files.roots in the
   * config, which wins over the working directory; a client whose roots/list fails or offers
   * none falls back the same way.
   */
  private async attachFiles(messages: ChatMessage[], paths: string[], hooks: ChatHooks): Promise<void> {
    const { files } = this.deps.settings;
    if (hooks.principal !== undefined) {
      // A remote caller (HTTP gateway) reads the server's disk: only where the config says, never
      // the working directory, and never the client's roots (they name the client's machine).
      if (!files.roots) {
        throw new LlmError('files: over the HTTP gateway, files are read only from files.roots in the server\'s config file, and none is set.', {
          kind: 'invalid-request',
          retryable: false,
        });
      }
      await this.attachFrom(messages, paths, files.roots);
      return;
    }
    let roots: string[] | undefined;
    try {
      roots = await hooks.roots?.();
    } catch (error) {
      this.deps.logger?.warn(`files: the client's roots/list failed (${this.scrub(error instanceof Error ? error.message : String(error))}); using the configured roots`);
    }
    if (!roots || roots.length === 0) roots = files.roots ?? [process.cwd()];
    await this.attachFrom(messages, paths, roots);
  }

  /** Reads the files from under `roots` into the last user message. */
  private async attachFrom(messages: ChatMessage[], paths: string[], roots: string[]): Promise<void> {
    const attachments = await readAttachments(paths, roots, this.deps.settings.files);
    const last = messages.findLastIndex((m) => m.role === 'user');
    const target = messages[last] as Extract<ChatMessage, { role: 'user' }>;
    messages[last] = { ...target, attachments: [...(target.attachments ?? []), ...attachments] };
  }

  /**
   * The model and its fallbacks, all resolved before anything is sent (a typo fails at once).
   * A retired model is skipped with a note naming its replacement (its provider would only answer
   * 404); when nothing else is left, the call fails with that message instead.
   */
  private candidates(input: ChatInput): { candidates: ResolvedModel[]; notes: string[] } {
    const now = this.now();
    const primary = this.deps.registry.resolve(input.model ?? this.defaultModel());
    const fallbackNames = input.fallback_models ?? primary.model.fallbacks ?? [];
    const all = [primary, ...fallbackNames.map((name) => this.deps.registry.resolve(name))];
    const seen = new Set<string>();
    const unique = all.filter((r) => (seen.has(r.model.id) ? false : (seen.add(r.model.id), true)));
    const retired = unique.filter((r) => isRetired(r.model, now));
    const notes: string[] = [];
    for (const r of retired) notes.push(`${retiredMessage(r.model, r.provider.id)}; skipped`);
    const candidates = unique.filter((r) => !isRetired(r.model, now));
    if (candidates.length === 0) {
      const [first] = retired as [ResolvedModel];
      throw new LlmError(`${retiredMessage(first.model, first.provider.id)}. Call it with model: "${first.model.retirement!.replacement}", or pass fallback_models.`, {
        kind: 'invalid-request',
        retryable: false,
      });
    }
    return { candidates, notes };
  }

  /** The call's deadline (callTimeoutMs) passed: one clear error naming the setting. */
  private deadlineError(resolved: ResolvedModel, cause: LlmError, attempts: number): LlmError {
    const limit = formatSeconds(this.deps.settings.callTimeoutMs);
    return new LlmError(
      `The call took longer than ${limit} (callTimeoutMs), all attempts and retries included; it was stopped during ${resolved.model.id} (${resolved.provider.id}). ` +
        'Raise callTimeoutMs in the config file for calls this long, or ask for a shorter answer',
      { kind: 'timeout', provider: cause.provider, retryable: false, attempts, partialText: cause.partialText },
    );
  }

  private async tryModel(
    resolved: ResolvedModel,
    adapted: ReturnType<typeof adaptRequest>,
    call: {
      callId: string;
      hooks: ChatHooks;
      relay: ProgressRelay | undefined;
      inFlight: InFlightCall;
      waiting: WaitState;
    },
  ): Promise<ModelOutcome> {
    const { model, provider } = resolved;
    const request = adapted.request;
    const notes = [...adapted.notes];
    const jsonPlan = adapted.jsonPlan;
    const started = this.now();
    const wire = provider.type === 'anthropic' ? 'anthropic' : 'openai';
    const principal = call.hooks.principal;
    const worstCase = worstCaseMicroUsd(model, request, wire);
    const notesBefore = notes.length;
    const held = call.hooks.heldReservation?.take();
    const reservation: Reservation =
      held !== undefined ? { ok: true, reservationId: held } : await this.reserve(worstCase, principal ? { name: principal.name, budget: principal.budget } : undefined, notes);
    // A ledger that already failed for this call is reported (logged and noted) once.
    const ledgerFailed = notes.length > notesBefore;
    if (!reservation.ok) {
      throw new LlmError(reservation.message, { kind: 'budget', retryable: false });
    }
    const stopRenewing = this.keepHoldAlive(reservation.reservationId);
    let attempts = 0;
    let response: ChatResponse | undefined;
    let failure: LlmError | undefined;
    // Every attempt's bill, so tokens billed by an attempt that then failed are not lost.
    const bills: AttemptBill[] = [];
    const maxTokens = maxTokensOfCall(model);
    try {
      const adapter = await this.deps.adapters.get(provider);
      const options = { signal: call.hooks.signal, timeoutMs: this.deps.settings.timeoutMs, maxAnswerBytes: this.deps.settings.maxAnswerBytes };
      const outcome = await withRetry(
        async (attempt) => {
          attempts = attempt;
          call.waiting.retryAt = undefined;
          try {
            const answer = call.relay ? await relayStream(adapter, request, options, call.relay) : await adapter.generate(request, options);
            bills.push(billOfAnswer(answer, provider.id, maxTokens));
            return answer;
          } catch (error) {
            bills.push(billOfFailure(error, maxTokens));
            throw error;
          }
        },
        this.deps.settings.retry,
        {
          signal: call.hooks.signal,
          onRetry: (notice) => {
            call.waiting.retryAt = this.now() + notice.delayMs;
            const line = `${this.scrub(notice.error.message)}; retrying ${model.id} in ${formatSeconds(notice.delayMs)} (attempt ${notice.attempt + 1} of ${this.deps.settings.retry.retries + 1})`;
            call.relay?.announce(line);
            this.deps.logger?.info(`call ${call.callId}: ${line}`);
          },
        },
      );
      attempts = outcome.attempts;
      response = outcome.value;
    } catch (error) {
      failure = error instanceof LlmError ? error : new LlmError(String(error), { kind: 'invalid-response', retryable: false, cause: error });
      // withRetry always sets attempts; an error before it (no API key) means nothing was sent.
      attempts = failure.attempts ?? attempts;
      // The deadline aborted the call: an error (not a host cancellation), named as such.
      if (call.inFlight.cutByDeadline) failure = this.deadlineError(resolved, failure, attempts);
    }

    stopRenewing();
    const latencyMs = Math.round(this.now() - started);
    // Each attempt priced at its own input-size tier, peak or off-peak by the call's start.
    const bill = costOfAttempts(bills, model.pricing, started);
    // Cut before the row is written, so the row's finish_reason is the result's.
    if (response) this.capAnswer(response, notes);
    // Unknown usage under a budget: the worst-case hold stays counted as spent (see keepHold).
    const keepHold = bill.unknownUsage !== undefined && reservation.reservationId !== undefined;
    const json = response && jsonPlan ? jsonOutcome(jsonPlan, response) : undefined;
    // The answer this call returns keeps the thread's turn, written with its row; a JSON answer
    // that did not parse is asked for again, and the call that answers keeps it.
    const turn =
      response && !(json && !json.reading.ok)
        ? call.hooks.turn?.of({ content: json?.reading.ok ? json.reading.text : response.content, tool_calls: json?.viaTool ? [] : response.toolCalls })
        : undefined;
    const recordError = await this.recordCall(
      {
        callId: call.callId,
        startedAt: started,
        model: model.id,
        provider: provider.id,
        providerModel: response ? this.providerModelOf(response, model.providerModel) : model.providerModel,
        // Raw usage is provider data: scrubbed of keys and bounded before it is stored.
        usage: bill.usage && { ...bill.usage, raw: scrubProviderJson(bill.usage.raw, this.scrubber) },
        pricing: bill.pricing,
        costMicroUsd: bill.costMicroUsd,
        latencyMs,
        attempts,
        status: response ? 'ok' : failure?.kind === 'cancelled' ? 'cancelled' : 'error',
        finishReason: response?.finishReason ?? null,
        error: failure ? (call.inFlight.cutByShutdown ? SHUTDOWN_CUT : this.scrub(failure.message)) : null,
        principal: principal?.name ?? null,
        keepHold,
        conversationId: call.hooks.conversationId ?? null,
      },
      reservation.reservationId,
      ledgerFailed,
      turn && call.hooks.turn ? { turn, keeper: call.hooks.turn } : undefined,
    );
    call.hooks.onRecorded?.({ callId: call.callId, costMicroUsd: bill.costMicroUsd });
    if (recordError && response && !ledgerFailed) notes.push(recordError);

    if (!response) {
      return { ok: false, error: failure!, attempts, elapsedMs: latencyMs, costMicroUsd: bill.costMicroUsd };
    }
    if (bill.unknownUsage !== undefined) {
      notes.push(
        `${bill.unknownUsage}, so the cost is unknown` +
          (keepHold ? `; its worst-case hold of ${formatUsd(microToUsd(worstCase), 4)} stays counted against the budget` : ''),
      );
    } else if (bill.costMicroUsd === null) {
      notes.push(`No price is known for ${model.id}, so the cost is unknown (set models.${model.id}.pricing in the config file)`);
    }
    const usage = bill.usage ?? emptyUsage();
    return {
      ok: true,
      attempts,
      costMicroUsd: bill.costMicroUsd,
      ...(json && !json.reading.ok ? { jsonInvalid: json.reading } : {}),
      result: {
        content: json?.reading.ok ? json.reading.text : response.content,
        tool_calls: json?.viaTool ? [] : response.toolCalls,
        model: model.id,
        provider: provider.id,
        provider_model: this.providerModelOf(response, model.providerModel),
        finish_reason: json?.viaTool && response.finishReason === 'tool_calls' ? 'stop' : response.finishReason,
        usage: {
          prompt_tokens: usage.promptTokens,
          completion_tokens: usage.completionTokens,
          cached_tokens: usage.cachedTokens,
          total_tokens: usage.totalTokens,
          ...(usage.reasoningTokens > 0 ? { reasoning_tokens: usage.reasoningTokens } : {}),
        },
        cost_usd: bill.costMicroUsd === null ? null : microToUsd(bill.costMicroUsd),
        call_id: call.callId,
        ...(json?.reading.ok ? { json: json.reading.value } : {}),
        ...(notes.length > 0 ? { notes } : {}),
      },
    };
  }

  /**
   * A JSON answer that did not parse or validate gets one more try on the same model, told what
   * was wrong; a second failure is an error that carries the raw reply. Both calls are recorded
   * and billed; the result adds up their usage, cost and attempts. The retry is not streamed: its
   * text would follow the first answer's in the relayed deltas.
   */
  private async repairJsonAnswer(
    resolved: ResolvedModel,
    fit: FitInput,
    call: Parameters<LlmService['tryModel']>[2],
    first: Extract<ModelOutcome, { ok: true }>,
    attemptsBefore: number,
  ): Promise<ModelOutcome> {
    const problem = first.jsonInvalid!;
    call.relay?.announce(`the answer did not match response_format (${truncate(problem.error, 120)}); asking ${resolved.model.id} again`);
    const messages: ChatMessage[] = [...fit.messages, { role: 'assistant', content: problem.raw }, { role: 'user', content: repairMessage(problem.error) }];
    const adapted = adaptRequest(resolved.model, resolved.provider, { ...fit, messages });
    const second = await this.tryModel(resolved, adapted, { ...call, relay: undefined });
    const costMicroUsd = addCost(first.costMicroUsd, second.costMicroUsd);
    if (!second.ok) return { ...second, attempts: first.attempts + second.attempts, costMicroUsd };
    const attempts = first.attempts + second.attempts;
    if (second.jsonInvalid) {
      throw new LlmError(
        this.scrub(
          `${resolved.model.id} answered twice without valid JSON for response_format; the second reply: ${second.jsonInvalid.error}. Raw reply: ${truncate(second.jsonInvalid.raw, 4000)}`,
        ),
        { kind: 'invalid-response', provider: resolved.provider.id, retryable: false, attempts: attemptsBefore + attempts },
      );
    }
    return { ok: true, attempts, costMicroUsd, result: mergeRepairedResult(first.result, second.result, problem.error) };
  }

  /**
   * Keeps the answer within maxAnswerBytes: a streamed one was already cut (and its stream
   * closed) in streamOnce; a non-streamed one is cut here. The host's transport must carry it
   * twice (content and structuredContent), and an MCP client drops a message over 10 MiB.
   */
  private capAnswer(response: ChatResponse, notes: string[]): void {
    const cap = this.deps.settings.maxAnswerBytes;
    const cut = `the answer was cut at ${cap} bytes (maxAnswerBytes)`;
    if (response.truncated) {
      notes.push(`${cut}; the provider's stream was closed there`);
      return;
    }
    // One note for a body cut at its byte limit; the text that arrived may still exceed the cap.
    if (response.bodyCutAtBytes !== undefined) {
      notes.push(`the provider's answer ran past ${response.bodyCutAtBytes} bytes; reading stopped there and the answer was cut (maxAnswerBytes)`);
    }
    if (jsonBytes(response.content) <= cap) return;
    response.content = fitJsonBytes(response.content, cap);
    response.finishReason = 'length';
    if (response.bodyCutAtBytes === undefined) notes.push(cut);
  }

  /** The model id the provider says it used: a string from the provider, so scrubbed and bounded. */
  private providerModelOf(response: ChatResponse, requested: string): string {
    const reported = typeof response.providerModel === 'string' ? response.providerModel.trim() : '';
    if (reported === '') return requested;
    return this.scrub(reported.length > MAX_PROVIDER_MODEL_CHARS ? `${reported.slice(0, MAX_PROVIDER_MODEL_CHARS)}…` : reported);
  }

  /**
   * Holds the call's worst case against the budget. A ledger that cannot be written (disk full,
   * file damaged after start) cannot check the budget either; like a failed record, that must not
   * cost the host its call: it goes ahead with a note, and the failure is logged.
   */
  private async reserve(worstCase: number, principal: PrincipalBudget | undefined, notes: string[]): Promise<Reservation> {
    try {
      return await this.deps.ledger.reserve(worstCase, this.deps.settings.budget, principal);
    } catch (error) {
      const message = this.scrub(error instanceof Error ? error.message : String(error));
      this.deps.logger?.error(`ledger: could not check the budget: ${message}`);
      notes.push(`the cost ledger could not check the budget for this call (${message}); see the server's log`);
      return { ok: true, reservationId: undefined };
    }
  }

  /**
   * Renews a budget hold while its call runs, so it lives exactly as long as the call however
   * long that is (see ledger.ts); returns the function that stops renewing. A renewal that fails
   * (ledger busy) is logged; the next one tries again before the hold could lapse.
   */
  private keepHoldAlive(reservationId: number | undefined): () => void {
    if (reservationId === undefined) return () => undefined;
    const { ledger, logger } = this.deps;
    const timer = setInterval(() => {
      Promise.resolve()
        .then(() => ledger.renew(reservationId))
        .catch((error: unknown) => logger?.warn(`ledger: could not renew budget hold ${reservationId}: ${this.scrub(String(error))}`));
    }, Math.max(10, Math.floor(ledger.reservationTtlMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Writes the call's ledger row. The provider has answered (and billed) by now, so a ledger that
   * fails here (disk full, file damaged after start, database unreachable) must not cost the host
   * its answer: the failure is logged and returned as the note the answer carries instead of thrown.
   * With `withTurn`, the thread's turn is written in the row's transaction and `keeper.written`
   * set; a spooled row carries it. A row refused otherwise took its turn down with it (neither is
   * written): `chat` then tries the turn alone (ConversationStore.finish), so the thread goes on
   * when only the row was refused, and notes it when the turn could not be kept either.
   */
  private async recordCall(
    record: CallRecord,
    reservationId: number | undefined,
    alreadyLogged = false,
    withTurn?: { turn: ThreadTurn; keeper: TurnWithRow },
  ): Promise<string | undefined> {
    // One line per call at info (a gateway's request log); never a prompt, token or key. Not
    // built when info is off (the default).
    const logger = this.deps.logger;
    if (logsAt(logger, 'info')) {
      logger.info(
        `call ${record.callId} principal=${record.principal ?? '-'} model=${record.model} provider=${record.provider} ` +
          `status=${record.status} latency=${record.latencyMs}ms attempts=${record.attempts} ` +
          `cost=${record.costMicroUsd === null ? 'unknown' : formatUsd(microToUsd(record.costMicroUsd), 6)}`,
      );
    }
    try {
      await this.deps.ledger.record(record, reservationId, withTurn?.turn);
      if (withTurn) withTurn.keeper.written = true;
      return undefined;
    } catch (error) {
      const message = this.scrub(error instanceof Error ? error.message : String(error));
      if (error instanceof LedgerSpooledError) {
        if (withTurn) withTurn.keeper.written = true;
        this.deps.logger?.warn(`ledger: call ${record.callId} (${record.model}, ${record.status}) spooled: ${message}`);
        return `the cost ledger is unreachable; this call was kept locally and will be recorded when it is back (${message})`;
      }
      if (!alreadyLogged) this.deps.logger?.error(`ledger: could not record call ${record.callId} (${record.model}, ${record.status}): ${message}`);
      // The row is lost either way; a hold left behind would block the budget until it expires.
      if (reservationId !== undefined) await this.deps.ledger.release(reservationId).catch(() => undefined);
      return `the cost ledger could not record this call (${message}); see the server's log`;
    }
  }

  private readonly cleanTexts = new Set<string>();

  /**
   * Removes every known API key from text bound for the host, a log or the ledger. Every call
   * scrubs the same short texts again (the provider's model id, the keys of its usage object):
   * those found clean are remembered, so they are not scanned for every key each time. A text
   * that held anything to redact is never kept.
   */
  readonly scrubber = (text: string): string => {
    if (this.cleanTexts.has(text)) return text;
    const scrubbed = redactSecrets(text, this.deps.secrets);
    if (scrubbed === text && text.length <= CLEAN_TEXT_MAX_CHARS) {
      // Bounded: a provider that sends ever new texts only ever refills it.
      if (this.cleanTexts.size >= CLEAN_TEXTS_MAX) this.cleanTexts.clear();
      this.cleanTexts.add(text);
    }
    return scrubbed;
  };

  private scrub(text: string): string {
    return this.scrubber(text);
  }
}

// The short texts the scrubber remembers as clean (model ids, usage keys): how long, how many.
const CLEAN_TEXT_MAX_CHARS = 200;
const CLEAN_TEXTS_MAX = 1_000;

// While a model streams its reasoning, "thinking…" is announced at most this often.
const THINKING_NOTICE_INTERVAL_MS = 5000;

/** What fitting a request to a model needs (see build-request.ts). */
type FitInput = {
  messages: ChatMessage[];
  tools: ToolDefinition[] | undefined;
  toolChoice: ToolChoice | undefined;
  input: ChatInput;
  jsonAnswer: JsonAnswerSpec | undefined;
};

type ModelOutcome =
  | { ok: true; result: Omit<ChatResult, 'attempts' | 'latency_ms'>; attempts: number; costMicroUsd: number | null; jsonInvalid?: { error: string; raw: string } }
  | { ok: false; error: LlmError; attempts: number; elapsedMs: number; costMicroUsd: number | null };

/** The JSON answer read from a response; a reply that called one of the caller's own tools is left as it is. */
function jsonOutcome(plan: JsonAnswerPlan, response: ChatResponse): { reading: ReturnType<typeof readJsonAnswer>; viaTool: boolean } | undefined {
  if (!plan.viaTool && response.finishReason === 'tool_calls' && response.toolCalls.length > 0) return undefined;
  return { reading: readJsonAnswer(plan, response), viaTool: plan.viaTool !== undefined };
}

/** The repaired answer, with the usage and cost of both calls (the first was billed too). */
function mergeRepairedResult(
  first: Omit<ChatResult, 'attempts' | 'latency_ms'>,
  second: Omit<ChatResult, 'attempts' | 'latency_ms'>,
  problem: string,
): Omit<ChatResult, 'attempts' | 'latency_ms'> {
  const usage = { ...second.usage };
  for (const [key, value] of Object.entries(first.usage) as Array<[keyof ChatResult['usage'], number]>) usage[key] = (usage[key] ?? 0) + value;
  const cost = first.cost_usd === null || second.cost_usd === null ? null : microToUsd(Math.round(first.cost_usd * 1e6) + Math.round(second.cost_usd * 1e6));
  const notes = [...new Set([...(first.notes ?? []), `the first answer did not match response_format (${truncate(problem, 200)}) and was asked for again`, ...(second.notes ?? [])])];
  return { ...second, usage, cost_usd: cost, notes };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

const SHUTDOWN_CUT = 'The server shut down before the answer came: the call was cancelled when the drain time ran out';

/**
 * One streamed attempt: text goes to the relay as it arrives. Once any text has been relayed a
 * failure is final (a retry would repeat that text to the host), so it is marked not retryable
 * and carries the partial text.
 */
async function relayStream(
  adapter: ProviderAdapter,
  request: ChatRequest,
  options: { signal?: AbortSignal; timeoutMs: number },
  relay: ProgressRelay,
): Promise<ChatResponse> {
  let relayed = '';
  let thinkingNoticeAt: number | undefined;
  try {
    for await (const part of adapter.stream(request, options)) {
      if (part.type === 'text-delta') {
        relayed += part.text;
        relay.push(part.text);
      } else if (part.type === 'reasoning-delta') {
        // Thinking text is not the answer; a person still sees the call is alive.
        const now = performance.now();
        if (thinkingNoticeAt === undefined || now - thinkingNoticeAt >= THINKING_NOTICE_INTERVAL_MS) {
          thinkingNoticeAt = now;
          relay.announce('thinking…');
        }
      } else {
        return part.response;
      }
    }
    throw new LlmError('The stream ended without a final answer', { kind: 'stream', retryable: true });
  } catch (error) {
    if (relayed !== '' && error instanceof LlmError && error.kind !== 'cancelled') {
      throw new LlmError(error.message, {
        kind: error.kind,
        provider: error.provider,
        status: error.status,
        retryable: false,
        providerMessage: error.providerMessage,
        requestId: error.requestId,
        partialText: relayed,
        usage: error.usage,
        usageUnknown: error.usageUnknown,
        cause: error,
      });
    }
    throw error;
  }
}

/** The heartbeat of a streamed call: what it waits for and for how long, in whole seconds. */
export function heartbeatLine(waiting: WaitState, now: number): string | undefined {
  if (waiting.model === '') return undefined;
  const who = `${waiting.model} (${waiting.provider})`;
  if (waiting.retryAt !== undefined) {
    return `waiting to retry ${who}, ${Math.max(1, Math.ceil((waiting.retryAt - now) / 1000))} s left`;
  }
  return `waiting for ${who}, ${Math.round((now - waiting.since) / 1000)} s`;
}

const STALE_AFTER_MS = 90 * 24 * 3_600_000;

/** Whether a price check date is more than 90 days before `nowMs` (an unreadable date is not flagged). */
function isStale(checked: string | null, nowMs: number): boolean {
  if (checked === null) return false;
  const at = Date.parse(checked);
  return Number.isFinite(at) && nowMs - at > STALE_AFTER_MS;
}

function warningOf(model: ResolvedModel['model'], nowMs: number): { warning?: string } {
  const parts = [
    ...(model.retirement ? [retirementWarning(model, nowMs)!] : []),
    ...(isStale(model.priceCheckedAt, nowMs) ? [STALE_WARNING] : []),
  ];
  return parts.length > 0 ? { warning: parts.join('; ') } : {};
}

