import { loadHomeSecret, removeHomeSecret, type StoredSecret, saveHomeSecret } from './keychain.js';

/** Where a bot token in force comes from. */
export type TokenSource = 'env' | 'keychain' | 'file';
export type SavedToken = StoredSecret;

/** Where one bot's token is kept, and what a well-formed one looks like. */
export interface BotTokenSpec {
  /** The keychain service name (the account is the berth home's path). */
  service: string;
  /** The field of secrets.json. */
  field: string;
  /** The environment variable that wins over the stored token. */
  envVar: string;
  /** The trimmed token, or a usage error that never echoes the input. */
  check(input: string): string;
}

export interface BotTokenStore {
  /** The token in force: the environment variable, else the OS keychain, else secrets.json. */
  load(home: string, env?: NodeJS.ProcessEnv): Promise<{ token: string; source: TokenSource } | null>;
  /** Checks the token's form and stores it in the OS keychain when a Secret Service answers, else in secrets.json (0600). */
  save(home: string, token: string): Promise<SavedToken>;
  /** Forgets the token everywhere berth stored it; whether there was one. */
  remove(home: string): Promise<boolean>;
}

/** The storage of one bot's token (Telegram's, Discord's): one rule for every bot. */
export function botTokenStore(spec: BotTokenSpec): BotTokenStore {
  return {
    async load(home, env = process.env) {
      const fromEnv = env[spec.envVar]?.trim();
      if (fromEnv) return { token: fromEnv, source: 'env' };
      const stored = await loadHomeSecret(home, spec.service, spec.field);
      return stored ? { token: stored.value, source: stored.source } : null;
    },
    save: (home, token) => saveHomeSecret(home, spec.service, spec.field, spec.check(token)),
    remove: (home) => removeHomeSecret(home, spec.service, spec.field),
  };
}
