import type { ModelInfo, ModelListing } from '../llm/llm-service.js';

/**
 * `list_models`' structuredContent in the compact shape SPEC §4 allows: one row per model under
 * its provider, the column names said once, and the price-check date said once (most prices were
 * checked the same day) with the exceptions by id. The object-per-model shape was ~6.5 KB for the
 * built-in catalog, all of it read into the host model's context; this one stays under 2.5 KB.
 *
 * ```json
 * { "default_model": "gpt-4o-mini",
 *   "columns": ["id", "provider_model", "context_window", "max_output_tokens",
 *               "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "capabilities", "warning"],
 *   "capability_codes": "t=tools v=vision T=temperature r=reasoning",
 *   "providers": { "openai": { "configured": true, "models": [["gpt-4o", null, 128000, 16384, 2.5, 10, 1.25, "tvT", "retires 2027-01-14; use gpt-6-luna"]] } },
 *   "aliases": { "claude-3-5-sonnet-20241022": "claude-3-5-sonnet" },
 *   "price_checked": { "*": "2026-11-29", "gpt-6-luna": "2026-11-30" } }
 * ```
 * `default_model` is where a call that names no model goes today: the built-in gpt-4o-mini becomes
 * gpt-6-luna on its retirement day (src/registry/retirement.ts, defaultModelAt).
 * `provider_model` is null when it equals the id; a null number is unknown. `price_checked` gives
 * the date each price was checked: `*` for every model not named in it; `not checked` for a price
 * from the config file without a date.
 */
export interface CompactModelListing {
  default_model: string;
  columns: string[];
  capability_codes: string;
  providers: Record<string, { configured: boolean; models: Array<Array<string | number | null>> }>;
  aliases: Record<string, string>;
  /** When each price was checked: `*` for every model not named, `not checked` for never. */
  price_checked: Record<string, string>;
}

// Each column: its name and how a model fills it. A new field is one more line here.
const COLUMNS: Array<[string, (model: ModelInfo) => string | number | null]> = [
  ['id', (m) => m.id],
  ['provider_model', (m) => (m.provider_model === m.id ? null : m.provider_model)],
  ['context_window', (m) => m.context_window],
  ['max_output_tokens', (m) => m.max_output_tokens],
  ['input_per_mtok', (m) => m.pricing.input_per_mtok],
  ['output_per_mtok', (m) => m.pricing.output_per_mtok],
  ['cached_input_per_mtok', (m) => m.pricing.cached_input_per_mtok],
  ['capabilities', (m) => capabilityCodes(m.capabilities)],
  // Null unless something is wrong: a model retired or retiring, or a price check older than 90 days.
  ['warning', (m) => m.warning ?? null],
];

const CAPABILITY_CODES = { tools: 't', vision: 'v', temperature: 'T', reasoning: 'r' } as const;

/** The listing as rows grouped by provider, with aliases as one map. */
export function compactModelListing(listing: ModelListing): CompactModelListing {
  const providers: CompactModelListing['providers'] = {};
  const aliases: Record<string, string> = {};
  for (const model of listing.models) {
    const group = (providers[model.provider] ??= { configured: model.configured, models: [] });
    group.models.push(COLUMNS.map(([, value]) => value(model)));
    for (const alias of model.aliases) aliases[alias] = model.id;
  }
  return {
    default_model: listing.default_model,
    columns: COLUMNS.map(([name]) => name),
    capability_codes: Object.entries(CAPABILITY_CODES)
      .map(([name, code]) => `${code}=${name}`)
      .join(' '),
    providers,
    aliases,
    ...priceDates(listing.models),
  };
}

/** The most common price-check date as `*`, and every model checked on another date (or never). */
function priceDates(models: ModelInfo[]): Pick<CompactModelListing, 'price_checked'> {
  const dateOf = (m: ModelInfo): string => m.price_checked ?? NOT_CHECKED;
  const count = new Map<string, number>();
  for (const m of models) count.set(dateOf(m), (count.get(dateOf(m)) ?? 0) + 1);
  const usual = [...count.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? NOT_CHECKED;
  const dates: Record<string, string> = { '*': usual };
  for (const m of models) if (dateOf(m) !== usual) dates[m.id] = dateOf(m);
  return { price_checked: dates };
}

const NOT_CHECKED = 'not checked';

function capabilityCodes(capabilities: ModelInfo['capabilities']): string {
  return (Object.keys(CAPABILITY_CODES) as Array<keyof typeof CAPABILITY_CODES>)
    .filter((name) => capabilities[name])
    .map((name) => CAPABILITY_CODES[name])
    .join('');
}
