import { LlmError } from '../llm/errors.js';
import type { ModelDefinition, ProviderDefinition } from './catalog.js';

/** A model name resolved to its definition and provider. */
export interface ResolvedModel {
  model: ModelDefinition;
  provider: ProviderDefinition;
}

const UNLISTED_CAPABILITIES = { tools: true, vision: false, temperature: true, reasoning: false };

/** Resolves model names (id, alias, provider:model) and suggests close names for typos. */
export class ModelRegistry {
  private readonly modelsById: Map<string, ModelDefinition>;
  private readonly providersById: Map<string, ProviderDefinition>;

  constructor(
    models: ModelDefinition[],
    providers: ProviderDefinition[],
    private readonly aliases: Record<string, string>,
  ) {
    this.modelsById = new Map(models.map((m) => [m.id, m]));
    this.providersById = new Map(providers.map((p) => [p.id, p]));
  }

  /** Exact id, then alias, then `provider:model` for any known provider; else an error with suggestions. */
  resolve(name: string): ResolvedModel {
    const trimmed = name.trim();
    const direct = this.modelsById.get(trimmed);
    if (direct) return this.withProvider(direct);
    const aliased = this.aliases[trimmed];
    if (aliased !== undefined && aliased !== trimmed) return this.resolve(aliased);

    const colon = trimmed.indexOf(':');
    if (colon > 0) {
      const providerId = trimmed.slice(0, colon);
      const providerModel = trimmed.slice(colon + 1);
      const provider = this.providersById.get(providerId);
      if (provider && providerModel) {
        const listed = [...this.modelsById.values()].find(
          (m) => m.provider === providerId && (m.id === providerModel || m.providerModel === providerModel),
        );
        if (listed) return { model: listed, provider };
        return {
          provider,
          model: {
            id: trimmed,
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
        throw new LlmError(
          `Unknown provider '${providerId}' in model '${trimmed}'. Known providers: ${[...this.providersById.keys()].join(', ')}.`,
          { kind: 'unknown-model', retryable: false },
        );
      }
    }

    const suggestions = this.suggest(trimmed);
    const hint = suggestions.length > 0 ? ` Did you mean: ${suggestions.join(', ')}?` : '';
    throw new LlmError(
      `Unknown model '${trimmed}'.${hint} Call list_models for every name, or use provider:model (e.g. openai:gpt-4.1-nano).`,
      { kind: 'unknown-model', retryable: false },
    );
  }

  /** All listed models, optionally of one provider. */
  list(providerId?: string): ModelDefinition[] {
    const all = [...this.modelsById.values()];
    return providerId ? all.filter((m) => m.provider === providerId) : all;
  }

  /** The aliases that point at a model id. */
  aliasesOf(modelId: string): string[] {
    return Object.entries(this.aliases)
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
    const target = normalize(name);
    const candidates = [...this.modelsById.keys(), ...Object.keys(this.aliases)];
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
      throw new LlmError(`Model '${model.id}' names unknown provider '${model.provider}'.`, { kind: 'unknown-model', retryable: false });
    }
    return { model, provider };
  }
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
