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
