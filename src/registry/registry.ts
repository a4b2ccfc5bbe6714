import { LlmError } from '../llm/errors.js';
import type { ModelDefinition, ProviderDefinition } from './catalog.js';

/** A model name resolved to its definition and provider. */
export interface ResolvedModel {
  model: ModelDefinition;
  provider: ProviderDefinition;
}

const UNLISTED_CAPABILITIES = { tools: true, vision: false, temperature: true, reasoning: false };

/** Longer than any real model name (the longest are under 100); longer names are refused unread. */
export const MAX_MODEL_NAME_CHARS = 256;
/** How much of an unknown name an error repeats. */
const ECHO_CHARS = 64;

/**
 * Resolves model names (id, alias, provider:model) and suggests close names for typos. Names are
 * data: they are looked up in Maps (never as object keys, where `constructor` would match), and
 * every step is bounded by MAX_MODEL_NAME_CHARS and the number of aliases.
 */
export class ModelRegistry {
  private readonly modelsById: Map<string, ModelDefinition>;
  private readonly providersById: Map<string, ProviderDefinition>;
  private readonly aliases: Map<string, string>;

  constructor(models: ModelDefinition[], providers: ProviderDefinition[], aliases: Record<string, string>) {
    this.modelsById = new Map(models.map((m) => [m.id, m]));
    this.providersById = new Map(providers.map((p) => [p.id, p]));
    this.aliases = new Map(Object.entries(aliases));
  }

  /** Exact id, then alias, then `provider:model` for any known provider; else an error with suggestions. */
  resolve(name: string): ResolvedModel {
    if (typeof name !== 'string') throw unknownModel(`Model names are strings, not ${typeof name}.`);
    let current = name.trim();
    if (current.length > MAX_MODEL_NAME_CHARS) {
      throw unknownModel(
        `Unknown model ${echo(current)} (${current.length} characters): model names are at most ${MAX_MODEL_NAME_CHARS} characters. Call list_models for every name.`,
      );
    }
    const chain = [current];
    for (;;) {
      const direct = this.modelsById.get(current);
      if (direct) return this.withProvider(direct);
      const target = this.aliases.get(current)?.trim();
      if (target === undefined) break;
      if (chain.includes(target)) {
        throw unknownModel(`Alias loop: ${[...chain, target].map((n) => `'${n}'`).join(' -> ')}. Fix aliases in the config file.`);
      }
      chain.push(target);
      current = target;
    }

    const colon = current.indexOf(':');
    if (colon > 0) {
      // `openai: gpt-4o` means openai's gpt-4o: spaces around either part are typing, not a name.
      const providerId = current.slice(0, colon).trim();
      const providerModel = current.slice(colon + 1).trim();
      const provider = this.providersById.get(providerId);
      if (provider && providerModel) {
        const listed = [...this.modelsById.values()].find(
          (m) => m.provider === providerId && (m.id === providerModel || m.providerModel === providerModel),
        );
        if (listed) return { model: listed, provider };
        return {
          provider,
          model: {
            id: `${providerId}:${providerModel}`,
            provider: providerId,
            providerModel,
            contextWindow: null,
            maxOutputTokens: null,
            pricing: { inputPerMTok: null, outputPerMTok: null },
            capabilities: UNLISTED_CAPABILITIES,
            priceCheckedAt: null,
          },
        };
      }
      if (!provider) {
        throw unknownModel(`Unknown provider ${echo(providerId)} in model ${echo(current)}. Known providers: ${[...this.providersById.keys()].join(', ')}.`);
      }
    }

    const suggestions = this.suggest(current);
    const hint = suggestions.length > 0 ? ` Did you mean: ${suggestions.join(', ')}?` : '';
    throw unknownModel(
      `Unknown model ${echo(current)}.${hint} Call list_models for every name, or use provider:model (e.g. openai:gpt-5.4-nano).`,
    );
  }

  /** The id the ledger records for a name (alias, provider:model), or the name itself if unknown. */
  canonicalId(name: string): string {
    try {
      return this.resolve(name).model.id;
    } catch {
      // A model no longer in the registry can still be in the ledger.
      return name.trim();
    }
  }

  /** All listed models, optionally of one provider. */
  list(providerId?: string): ModelDefinition[] {
    const all = [...this.modelsById.values()];
    return providerId ? all.filter((m) => m.provider === providerId) : all;
  }

  /** The aliases that point at a model id. */
  aliasesOf(modelId: string): string[] {
    return [...this.aliases]
      .filter(([, target]) => target === modelId)
      .map(([alias]) => alias);
  }

  provider(id: string): ProviderDefinition | undefined {
    return this.providersById.get(id);
  }

  providers(): ProviderDefinition[] {
    return [...this.providersById.values()];
  }

  /** Up to three known names closest to `name` (ignoring case and punctuation). */
  suggest(name: string): string[] {
    // Edit distance costs length x length: a name longer than any known one has no close match.
    if (name.length > MAX_MODEL_NAME_CHARS) return [];
    const target = normalize(name);
    const candidates = [...this.modelsById.keys(), ...this.aliases.keys()];
    const scored = candidates
      .map((candidate) => {
        const normalized = normalize(candidate);
        let distance = editDistance(target, normalized);
        if (normalized.startsWith(target) || target.startsWith(normalized)) distance = Math.min(distance, 1);
        // A small typo in the start of a longer name ("claude-sonet" for claude-sonnet-4-5, "gpt4"
        // for gpt-4o) ranks just behind the same typo in a whole name.
        let prefixDistance = Infinity;
        for (let length = Math.max(1, target.length - 1); length <= target.length + 1 && length < normalized.length; length++) {
          prefixDistance = Math.min(prefixDistance, editDistance(target, normalized.slice(0, length)));
        }
        if (prefixDistance <= Math.max(1, Math.floor(target.length / 4))) distance = Math.min(distance, prefixDistance + 0.5);
        return { candidate, distance };
      })
      .filter(({ candidate, distance }) => distance <= Math.max(2, Math.floor(candidate.length / 3)))
      .sort((a, b) => a.distance - b.distance || a.candidate.length - b.candidate.length || a.candidate.localeCompare(b.candidate));
    return [...new Set(scored.map((s) => s.candidate))].slice(0, 3);
  }

  private withProvider(model: ModelDefinition): ResolvedModel {
    const provider = this.providersById.get(model.provider);
    if (!provider) {
      throw unknownModel(`Model '${model.id}' names unknown provider '${model.provider}'.`);
    }
    return { model, provider };
  }
}

function unknownModel(message: string): LlmError {
  return new LlmError(message, { kind: 'unknown-model', retryable: false });
}

/** A name as an error repeats it: quoted, and cut short when long. */
function echo(name: string): string {
  return name.length > ECHO_CHARS ? `'${name.slice(0, ECHO_CHARS)}…'` : `'${name}'`;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
