/**
 * `chat_many`: one request to several models at once. Each model is an ordinary `chat` call of
 * the service (its own retries, fallbacks, ledger rows), run in parallel under one deadline: a
 * model past it is cancelled (its provider request aborted) and reported as such, while the others'
 * answers are still returned.
 *
 * Budget: before any model is contacted, each one's worst case is held (ledger.reserve, cheapest
 * first is only used to count, see holdAll); if the cap cannot cover them all, nothing is sent and
 * the refusal says how many would fit. Each call then uses its hold as its own (`heldReservation`),
 * so the hold is settled by that call's ledger row like any chat's.
 *
 * Cost: the total is what every model's ledger rows recorded (call-cost.ts's one rule), answered,
 * failed or cancelled alike: a failed stream that reported usage was billed. One unknown cost
 * makes the total unknown (null, with a note saying what is known), as `chat`'s cost_usd.
 *
 * Threads: as `chat`, a call with `conversation_id` continues that thread (refused before any model
 * is contacted if it is unknown or another principal's): every model gets its history before the
 * new turn. One answer can continue a thread: the first in `models` order that answered; a note
 * names it. Without `conversation_id` (and `store` not false) a new thread starts the same way.
 */
import type { Settings } from '../config.js';
import { formatUsd, microToUsd } from '../ledger/cost.js';
import type { Ledger, PrincipalBudget } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import { addCost } from './call-cost.js';
import { ManyProgress } from './chat-many-progress.js';
import { LlmError } from './errors.js';
import type { OpenThread } from './conversation-store.js';
import type { ChatHooks, ChatInput, ChatResult, LlmService } from './llm-service.js';

export const DEFAULT_DEADLINE_MS = 120_000;

export interface ChatManyInput extends Omit<ChatInput, 'model'> {
  models: string[];
  deadline_ms?: number;
}

/** A model that gave no answer: what went wrong; `cancelled` when the deadline or the host cut it. */
export interface ChatManyFailure {
  model: string;
  error: string;
  cancelled?: boolean;
  latency_ms: number;
  /** What its calls were billed before they failed or were cut (ledger rows); null when unknown, 0 when never sent. */
  cost_usd: number | null;
  /** Its ledger call id, when it was contacted. */
  call_id?: string;
}

export type ChatManyEntry = ChatResult | ChatManyFailure;

export interface ChatManyResult {
  results: ChatManyEntry[];
  /** Every model's recorded cost, summed; null when any is unknown (notes says how much is known). */
  total_cost_usd: number | null;
  /** The thread the answer was kept in (or that was continued); absent with store: false and none given. */
  conversation_id?: string;
  notes?: string[];
}

export interface ChatManyDeps {
  service: LlmService;
  ledger: Ledger;
  settings: Settings;
  logger?: Logger;
  now?: () => number;
}

export async function chatMany(deps: ChatManyDeps, input: ChatManyInput, hooks: ChatHooks = {}): Promise<ChatManyResult> {
  const now = deps.now ?? Date.now;
  const { models, deadline_ms: deadline = DEFAULT_DEADLINE_MS, conversation_id, store, ...common } = input;
  const inputs: ChatInput[] = models.map((model) => ({ ...common, model }));
  // Opened once (an unknown thread refuses the whole call), fitted to each model's window.
  const thread = await deps.service.openThread({ conversation_id, store }, hooks.principal);
  hooks = { ...hooks, thread };
  // A model that cannot take the request (unknown name, no tools, no vision…) fails here, uncontacted.
  const worst = await Promise.all(
    inputs.map((one) =>
      deps.service.worstCaseOf(one, hooks).then(
        (micro) => ({ ok: true as const, micro }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ),
  );
  const holds = await holdAll(deps, worst.map((w) => (w.ok ? w.micro : undefined)), hooks);
  const progress = hooks.progress ? new ManyProgress(models, hooks.progress, deps.settings.progressIntervalMs) : undefined;
  try {
    const runs = await Promise.all(
      inputs.map(async (one, index): Promise<ModelRun> => {
        const w = worst[index]!;
        const started = now();
        if (!w.ok) {
          progress?.settle(index, false);
          return { entry: { model: one.model!, error: deps.service.scrubber(describe(w.error)), latency_ms: 0, cost_usd: 0 }, spent: 0 };
        }
        const run = await runOne(deps, one, hooks, holds[index], deadline, progress?.forModel(index), () => Math.round(now() - started));
        progress?.settle(index, !('error' in run.entry));
        return run;
      }),
    );
    const total = totalOf(runs);
    const kept = await keepAnswer(deps, thread, common, hooks, runs);
    const notes = [...(total.notes ?? []), ...kept.notes];
    return {
      results: runs.map((run) => run.entry),
      total_cost_usd: total.total_cost_usd,
      ...(kept.conversationId !== undefined ? { conversation_id: kept.conversationId } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    };
  } finally {
    await progress?.close();
  }
}

/** One model's entry and what its ledger rows recorded, in micro-USD (null: unknown). */
interface ModelRun {
  entry: ChatManyEntry;
  spent: number | null;
}

/**
 * Continues the thread with the new turn and the first answer in `models` order (a thread has one
 * line of answers; the order given is the caller's preference, not the fastest model's luck).
 */
async function keepAnswer(
  deps: ChatManyDeps,
  thread: OpenThread,
  common: Omit<ChatManyInput, 'models' | 'deadline_ms' | 'conversation_id' | 'store'>,
  hooks: ChatHooks,
  runs: ModelRun[],
): Promise<{ conversationId?: string; notes: string[] }> {
  if (thread.id === undefined) return { notes: [] };
  const existing = thread.stored !== undefined;
  if (!thread.store) return { conversationId: thread.id, notes: [] };
  const chosen = runs.map((run) => run.entry).find((entry): entry is ChatResult => !('error' in entry));
  if (!chosen) {
    return existing
      ? { conversationId: thread.id, notes: [`no model answered: conversation ${thread.id} is unchanged`] }
      : { notes: ['no model answered, so no conversation was started'] };
  }
  const failed = await deps.service.keepTurn(thread, { ...common, model: chosen.model }, hooks.principal, chosen);
  const how = existing ? 'continues' : 'starts';
  return {
    conversationId: thread.id,
    notes: [failed ?? `conversation ${thread.id} ${how} with ${chosen.model}'s answer (the first of models that answered)`],
  };
}

/** The total of every model's rows; unknown when one is, with a note on what is known. */
function totalOf(runs: ModelRun[]): Pick<ChatManyResult, 'total_cost_usd' | 'notes'> {
  const unknown = runs.filter((run) => run.spent === null).map((run) => run.entry.model);
  const known = runs.reduce((sum, run) => sum + (run.spent ?? 0), 0);
  if (unknown.length === 0) return { total_cost_usd: microToUsd(known) };
  return { total_cost_usd: null, notes: [`total cost ${unknownTotal(microToUsd(known), unknown.length)} (${unknown.join(', ')})`] };
}

/** The total's words when some model's cost is unknown; also the text's total line. */
export function unknownTotal(knownUsd: number, unknownModels: number): string {
  return `at least ${formatUsd(knownUsd, 6)}; cost of ${unknownModels} model${unknownModels === 1 ? '' : 's'} unknown`;
}

/** One model's call under the deadline; a failure becomes its entry instead of failing the rest. */
async function runOne(
  deps: ChatManyDeps,
  input: ChatInput,
  hooks: ChatHooks,
  hold: number | undefined,
  deadline: number,
  progress: ChatHooks['progress'],
  elapsed: () => number,
): Promise<ModelRun> {
  const controller = new AbortController();
  const cancel = (): void => controller.abort();
  if (hooks.signal?.aborted) cancel();
  hooks.signal?.addEventListener('abort', cancel, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, deadline);
  let taken = false;
  // Every row this model's call writes (fallbacks included), whatever becomes of the call.
  let spent: number | null = 0;
  let callId: string | undefined;
  const billed = (): Pick<ChatManyFailure, 'cost_usd' | 'call_id'> => ({
    cost_usd: spent === null ? null : microToUsd(spent),
    ...(callId !== undefined ? { call_id: callId } : {}),
  });
  try {
    const entry = await deps.service.chat(input, {
      principal: hooks.principal,
      roots: hooks.roots,
      thread: hooks.thread,
      signal: controller.signal,
      progress,
      heldReservation: { take: () => (taken ? undefined : ((taken = true), hold)) },
      onRecorded: (row) => {
        spent = addCost(spent, row.costMicroUsd);
        callId = row.callId;
      },
    });
    return { entry, spent };
  } catch (error) {
    const model = input.model!;
    if (timedOut) return { entry: { model, error: `no answer within deadline_ms (${deadline} ms): cancelled`, cancelled: true, latency_ms: elapsed(), ...billed() }, spent };
    const cancelled = error instanceof LlmError && error.kind === 'cancelled';
    return { entry: { model, error: deps.service.scrubber(describe(error)), ...(cancelled ? { cancelled: true } : {}), latency_ms: elapsed(), ...billed() }, spent };
  } finally {
    clearTimeout(timer);
    hooks.signal?.removeEventListener('abort', cancel);
    // A call that ended before its first model started (shutdown, bad request) never used its hold.
    if (!taken && hold !== undefined) await deps.ledger.release(hold).catch((e: unknown) => deps.logger?.warn(`ledger: could not release hold ${hold}: ${describe(e)}`));
  }
}

/**
 * Holds each model's worst case, in the order given. When the cap cannot take them all, every
 * hold is dropped and the call refused, saying how many of the cheapest would fit.
 */
async function holdAll(deps: ChatManyDeps, amounts: Array<number | undefined>, hooks: ChatHooks): Promise<Array<number | undefined>> {
  const principal: PrincipalBudget | undefined = hooks.principal ? { name: hooks.principal.name, budget: hooks.principal.budget } : undefined;
  const budget = deps.settings.budget;
  const taken: Array<number | undefined> = [];
  const releaseAll = async (ids: Array<number | undefined>): Promise<void> => {
    for (const id of ids) if (id !== undefined) await deps.ledger.release(id);
  };
  for (const amount of amounts) {
    if (amount === undefined) {
      taken.push(undefined);
      continue;
    }
    const reservation = await deps.ledger.reserve(amount, budget, principal);
    if (!reservation.ok) {
      await releaseAll(taken);
      const fit = await countFitting(deps, amounts.filter((a): a is number => a !== undefined), principal);
      const wanted = amounts.filter((a) => a !== undefined).length;
      const total = amounts.reduce<number>((sum, a) => sum + (a ?? 0), 0);
      throw new LlmError(
        `The budget cannot hold the worst case of all ${wanted} models (${formatUsd(microToUsd(total), 4)}); ${fit} would fit: send fewer models or a lower max_tokens. ${reservation.message}`,
        { kind: 'budget', retryable: false },
      );
    }
    taken.push(reservation.reservationId);
  }
  return taken;
}

/** How many of the cheapest models the budget would hold now (holds taken and dropped at once). */
async function countFitting(deps: ChatManyDeps, amounts: number[], principal: PrincipalBudget | undefined): Promise<number> {
  const ids: number[] = [];
  let fit = 0;
  try {
    for (const amount of [...amounts].sort((a, b) => a - b)) {
      const reservation = await deps.ledger.reserve(amount, deps.settings.budget, principal);
      if (!reservation.ok) break;
      fit++;
      if (reservation.reservationId !== undefined) ids.push(reservation.reservationId);
    }
  } finally {
    for (const id of ids) await deps.ledger.release(id);
  }
  return fit;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
