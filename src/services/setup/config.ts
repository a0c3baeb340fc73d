import { findPlan } from '../../domain/lookups.js';
import type { State } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import {
  CONFIG_KEYS,
  CONFIG_NAMES,
  type ConfigKey,
  type ConfigName,
  type ConfigValues,
  checkConfigName,
  effectiveConfig,
} from '../../values/config-keys.js';

export interface ConfigEntry {
  key: ConfigName;
  /** The value in force, written as `berth config set` takes it. */
  value: string;
  source: 'set' | 'default';
  default: string;
  description: string;
}

function entry(state: State, name: ConfigName): ConfigEntry {
  const spec = CONFIG_KEYS[name] as ConfigKey<ConfigValues[typeof name]>;
  const value = effectiveConfig(state.config)[name];
  return {
    key: name,
    value: spec.format(value),
    source: state.config[name] === undefined ? 'default' : 'set',
    default: spec.format(spec.default),
    description: spec.description,
  };
}

export async function listConfig(store: StateStore): Promise<ConfigEntry[]> {
  const state = await store.read();
  return CONFIG_NAMES.map((name) => entry(state, name));
}

export async function getConfig(store: StateStore, name: string): Promise<ConfigEntry> {
  const key = checkConfigName(name);
  return entry(await store.read(), key);
}

export async function setConfig(store: StateStore, name: string, text: string): Promise<ConfigEntry> {
  const key = checkConfigName(name);
  const value = (CONFIG_KEYS[key] as ConfigKey<unknown>).parse(text);
  return store.transact((state) => {
    if (key === 'default-plan') findPlan(state, value as string);
    (state.config as Record<string, unknown>)[key] = value;
    return entry(state, key);
  });
}

export async function unsetConfig(store: StateStore, name: string): Promise<ConfigEntry> {
  const key = checkConfigName(name);
  return store.transact((state) => {
    delete state.config[key];
    return entry(state, key);
  });
}
