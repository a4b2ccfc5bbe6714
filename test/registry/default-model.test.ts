/**
 * The default model on either side of its retirement (src/registry/retirement.ts): the built-in
 * default (SPEC §2: gpt-4o-mini) is kept until OpenAI retires it on 2027-01-14 and from that day
 * follows the catalog's replacement, so it is never a retired model; a default or alias the user
 * set is kept, and named in a warning (before the date) or a problem (from it). Every test pins
 * the time: none depends on today's date.
 */
import { describe, expect, it } from 'vitest';
import { BUILT_IN_DEFAULT_MODEL, buildSettings, type ConfigFile } from '../../src/config.js';
import { BUILT_IN_ALIASES, BUILT_IN_MODELS } from '../../src/registry/catalog.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import { defaultModelAt, defaultModelNotices, isRetired } from '../../src/registry/retirement.js';

const BEFORE = Date.parse('2027-01-13T23:59:59.999Z');
const FROM = Date.parse('2027-01-14T00:00:00.000Z');

function setup(config: ConfigFile = {}, env: Record<string, string> = {}) {
  const settings = buildSettings(config, env);
  const registry = new ModelRegistry(settings.models, settings.providers, settings.aliases);
  return {
    settings,
    defaultAt: (nowMs: number) => defaultModelAt(settings.defaultModel, settings.defaultModelSource, (name) => registry.resolve(name).model, nowMs),
    noticesAt: (nowMs: number) => defaultModelNotices(settings, BUILT_IN_ALIASES, (name) => registry.resolve(name), nowMs),
  };
}

describe('the built-in default model', () => {
  it('is gpt-4o-mini, as SPEC §2 says, until OpenAI retires it', () => {
    const { settings, defaultAt } = setup();
    expect(BUILT_IN_DEFAULT_MODEL).toBe('gpt-4o-mini');
    expect(settings).toMatchObject({ defaultModel: 'gpt-4o-mini', defaultModelSource: 'built-in' });
    expect(defaultAt(BEFORE)).toBe('gpt-4o-mini');
  });

  it('follows the replacement, gpt-6-luna, from 00:00 UTC on 2027-01-14', () => {
    expect(setup().defaultAt(FROM)).toBe('gpt-6-luna');
  });

  it('is never a retired model, on any day from 2020 to 2030', () => {
    const { defaultAt } = setup();
    const byId = new Map(BUILT_IN_MODELS.map((m) => [m.id, m]));
    for (let t = Date.parse('2020-01-01T00:00:00Z'); t < Date.parse('2030-01-01T00:00:00Z'); t += 86_400_000) {
      const model = byId.get(defaultAt(t))!;
      expect(isRetired(model, t), `${new Date(t).toISOString()}: ${model.id}`).toBe(false);
    }
  });

  it('is only mentioned at the info level: a healthy server stays quiet', () => {
    const { noticesAt } = setup();
    expect(noticesAt(BEFORE)).toEqual([
      {
        level: 'info',
        text: 'the built-in default model gpt-4o-mini retires 2027-01-14: from that day calls that name no model go to gpt-6-luna; set LLM_SERVICE_DEFAULT_MODEL or defaultModel to choose another',
      },
    ]);
    expect(noticesAt(FROM)).toEqual([
      {
        level: 'info',
        text: 'the built-in default model gpt-4o-mini was retired by openai on 2027-01-14: calls that name no model go to gpt-6-luna; set LLM_SERVICE_DEFAULT_MODEL or defaultModel to choose another',
      },
    ]);
  });
});

describe('a default model the user set', () => {
  it('is kept on both sides of the date (a call to it is refused from then, naming the replacement)', () => {
    for (const [config, env] of [[{}, { LLM_SERVICE_DEFAULT_MODEL: 'gpt-4o-mini' }], [{ defaultModel: 'gpt-4o-mini' }, {}]] as const) {
      const { defaultAt } = setup(config, env);
      expect(defaultAt(BEFORE)).toBe('gpt-4o-mini');
      expect(defaultAt(FROM)).toBe('gpt-4o-mini');
    }
  });

  it('gets a warning before the date and a problem from it, naming where it was set and the replacement', () => {
    const fromEnv = setup({}, { LLM_SERVICE_DEFAULT_MODEL: 'gpt-4.1' });
    expect(fromEnv.noticesAt(BEFORE)).toEqual([
      { level: 'warning', text: 'LLM_SERVICE_DEFAULT_MODEL gpt-4.1 retires 2027-01-14: from that day calls that name no model are refused; set it to gpt-6-luna' },
    ]);
    expect(fromEnv.noticesAt(FROM)).toEqual([
      { level: 'problem', text: 'LLM_SERVICE_DEFAULT_MODEL gpt-4.1 was retired by openai on 2027-01-14: calls that name no model are refused; set it to gpt-6-luna' },
    ]);
    // Through an alias of the config file: both the default and the alias are named.
    const viaAlias = setup({ defaultModel: 'fast', aliases: { fast: 'gpt-4o-mini' } });
    expect(viaAlias.noticesAt(FROM)).toEqual([
      { level: 'problem', text: "defaultModel 'fast' (gpt-4o-mini) was retired by openai on 2027-01-14: calls that name no model are refused; set it to gpt-6-luna" },
      { level: 'problem', text: "aliases.fast points at gpt-4o-mini, retired on 2027-01-14: calls to 'fast' are refused; point it at gpt-6-luna" },
    ]);
  });

  it('on a model that does not retire, says nothing', () => {
    expect(setup({ defaultModel: 'fast', aliases: { fast: 'gpt-6-luna', smart: 'claude-sonnet-5-5' } }).noticesAt(FROM)).toEqual([]);
  });
});

describe('aliases of the config file', () => {
  it('on a retiring model: a warning before the date, a problem from it; the built-in dated aliases are not named', () => {
    const { noticesAt } = setup({ defaultModel: 'gpt-6-luna', aliases: { mini: 'gpt-4.1-mini' } });
    expect(noticesAt(BEFORE)).toEqual([{ level: 'warning', text: 'aliases.mini points at gpt-4.1-mini, which retires 2027-01-14: point it at gpt-6-luna' }]);
    expect(noticesAt(FROM)).toEqual([{ level: 'problem', text: "aliases.mini points at gpt-4.1-mini, retired on 2027-01-14: calls to 'mini' are refused; point it at gpt-6-luna" }]);
  });
});
