import type { ModelDefinition } from './catalog.js';

/**
 * A model's retirement, judged by the clock: from 00:00 UTC on its `retirement.on` date the
 * provider no longer answers it, so a call is refused before sending; before that date it still
 * works and list_models warns. Pure: the caller passes the time (the service's injectable `now`),
 * so tests pin either side of the date instead of depending on the real one.
 */

/** Whether `model` is retired at `nowMs` (its retirement date, 00:00 UTC, has come). */
export function isRetired(model: ModelDefinition, nowMs: number): boolean {
  if (!model.retirement) return false;
  const at = Date.parse(`${model.retirement.on}T00:00:00Z`);
  // An unreadable date never refuses a call: the provider's own answer decides then.
  return Number.isFinite(at) && nowMs >= at;
}

/** The list_models warning: `retired <date>; use <model>` after the date, `retires <date>; use <model>` before. */
export function retirementWarning(model: ModelDefinition, nowMs: number): string | undefined {
  if (!model.retirement) return undefined;
  const { on, replacement } = model.retirement;
  return `${isRetired(model, nowMs) ? 'retired' : 'retires'} ${on}; use ${replacement}`;
}

/** What a call to a retired model is told: when it went, and what replaces it. */
export function retiredMessage(model: ModelDefinition, providerId: string): string {
  const { on, replacement } = model.retirement!;
  return `${model.id} was retired by ${providerId} on ${on} and no longer answers; its replacement is ${replacement}`;
}

/** Where the default model came from: SPEC §2's built-in one, or the user's setting. */
export type DefaultModelSource = 'built-in' | 'LLM_SERVICE_DEFAULT_MODEL' | 'defaultModel';

/** Replacements followed at most (a replacement may itself retire later). */
const MAX_REPLACEMENTS = 8;

/**
 * The model a call that names none goes to at `nowMs`, so that the built-in default is never a
 * retired model on any date. The built-in default stays SPEC §2's gpt-4o-mini for as long as
 * OpenAI answers it (users who never chose a model keep its price and latency until then), and
 * from its retirement day follows the replacement the catalog names (gpt-6-luna, OpenAI's
 * recommendation), and that one's if it retires too. A default the user set
 * (LLM_SERVICE_DEFAULT_MODEL, defaultModel) is theirs and is kept: a call to it is refused naming
 * the replacement, as an explicit call would be, and start-up and doctor say so
 * (defaultModelNotices). Pure: the caller passes the time.
 */
export function defaultModelAt(
  name: string,
  source: DefaultModelSource,
  resolve: (name: string) => ModelDefinition,
  nowMs: number,
): string {
  if (source !== 'built-in') return name;
  let current = name;
  for (let step = 0; step < MAX_REPLACEMENTS; step++) {
    const model = resolve(current);
    if (!isRetired(model, nowMs)) return current;
    current = model.retirement!.replacement;
  }
  return current;
}

/**
 * How much a notice matters: `info` for the built-in default (it follows its replacement by
 * itself, so a healthy server stays quiet at the default log level), `warning` for a user's default
 * or alias on a model that retires later, `problem` when such calls already fail (doctor exits 1).
 */
export type NoticeLevel = 'info' | 'warning' | 'problem';

/**
 * What start-up (the log, on stderr) and doctor say about the default model and the config
 * file's aliases when they name a model that retires or has retired at `nowMs`.
 */
export function defaultModelNotices(
  settings: { defaultModel: string; defaultModelSource: DefaultModelSource; aliases: Record<string, string> },
  builtInAliases: Record<string, string>,
  resolve: (name: string) => { model: ModelDefinition; provider: { id: string } },
  nowMs: number,
): Array<{ text: string; level: NoticeLevel }> {
  const notices: Array<{ text: string; level: NoticeLevel }> = [];
  const of = (name: string) => {
    try {
      return resolve(name);
    } catch {
      return undefined; // an unknown name is a config problem reported elsewhere
    }
  };
  const { defaultModel: name, defaultModelSource: source } = settings;
  const resolved = of(name);
  if (resolved?.model.retirement) {
    const { model, provider } = resolved;
    const { on, replacement } = model.retirement!;
    const retired = isRetired(model, nowMs);
    const shown = name === model.id ? model.id : `'${name}' (${model.id})`;
    if (source === 'built-in') {
      const next = defaultModelAt(name, source, (n) => resolve(n).model, nowMs);
      notices.push({
        text: retired
          ? `the built-in default model ${model.id} was retired by ${provider.id} on ${on}: calls that name no model go to ${next}; set LLM_SERVICE_DEFAULT_MODEL or defaultModel to choose another`
          : `the built-in default model ${model.id} retires ${on}: from that day calls that name no model go to ${replacement}; set LLM_SERVICE_DEFAULT_MODEL or defaultModel to choose another`,
        level: 'info',
      });
    } else {
      notices.push({
        text: retired
          ? `${source} ${shown} was retired by ${provider.id} on ${on}: calls that name no model are refused; set it to ${replacement}`
          : `${source} ${shown} retires ${on}: from that day calls that name no model are refused; set it to ${replacement}`,
        level: retired ? 'problem' : 'warning',
      });
    }
  }
  for (const [alias, target] of Object.entries(settings.aliases)) {
    if (builtInAliases[alias] === target) continue; // ours: a retired model's dated name, say
    const model = of(alias)?.model;
    if (!model?.retirement) continue;
    const { on, replacement } = model.retirement;
    notices.push(
      isRetired(model, nowMs)
        ? { text: `aliases.${alias} points at ${model.id}, retired on ${on}: calls to '${alias}' are refused; point it at ${replacement}`, level: 'problem' }
        : { text: `aliases.${alias} points at ${model.id}, which retires ${on}: point it at ${replacement}`, level: 'warning' },
    );
  }
  return notices;
}
