import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { findUser } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import type { State, User, UserSecret } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { AGENTS, SECRET_NAMES } from '../../values/agents.js';
import { printable } from '../../values/names.js';
import { loadHomeSecret, saveHomeSecret } from './keychain.js';

/*
 * Users' secrets (their agents' API keys): AES-256-GCM, one random 12-byte IV per value, the
 * user's immutable id and the secret's name as associated data (a value copied to another user or
 * name does not decrypt). The 32-byte data key is this berth home's, kept as the bot token is (OS
 * keychain, else secrets.json 0600); the state file holds only ciphertext. Values never go to
 * logs, --json, error messages or a container's environment: `revealSecret` is for the agent's
 * process alone.
 */

const SERVICE = 'berth-user-secrets';
const FIELD = 'userSecretsKey';
const MAX_SECRET = 4096;

export interface SecretListing {
  name: string;
  setAt: string;
}

/** Agents' keys by their names (anthropic…), and any other secret a user keeps for their apps. */
export function checkSecretName(input: string): string {
  const name = input.trim().toLowerCase();
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) {
    throw invalidInput(
      'UNKNOWN_SECRET',
      `"${printable(input.slice(0, 40))}" is not a usable secret name.`,
      `Use lowercase letters, digits and - (e.g. bot-token); agents' keys are ${SECRET_NAMES.join(', ')}.`,
    );
  }
  return name;
}

/** A value as pasted: trimmed, one line, printable; never echoed back when refused. */
export function checkSecretValue(name: string, input: string): string {
  const value = input.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (!value || value.length > MAX_SECRET || /[\u0000-\u001f\u007f\s]/.test(value)) {
    throw invalidInput(
      'INVALID_SECRET',
      `That is not a usable ${name} key (empty, too long, or with spaces or control characters).`,
      'Paste the key alone, on one line.',
    );
  }
  return value;
}

async function dataKey(home: string, create: boolean, existing = false): Promise<Buffer | null> {
  const stored = await loadHomeSecret(home, SERVICE, FIELD);
  if (stored) {
    const key = Buffer.from(stored.value, 'base64');
    if (key.length === 32) return key;
    throw new BerthError(
      'SECRETS_UNREADABLE',
      "The data key of users' secrets is damaged.",
      'Unset and set the users’ secrets again after removing it.',
    );
  }
  if (!create) return null;
  // Secrets exist but their key cannot be read now (a keychain that did not answer in time, a
  // secrets file moved away): a new key would replace the old one and lose every secret for good.
  if (existing) {
    throw new BerthError(
      'SECRETS_UNREADABLE',
      "The data key of users' secrets cannot be read now (the keychain did not answer, or secrets.json lost it); nothing was changed.",
      'Try again; if the keychain stays locked, unlock it (or run berth where it answers). Setting a new key would make every stored secret unreadable.',
    );
  }
  const key = randomBytes(32);
  await saveHomeSecret(home, SERVICE, FIELD, key.toString('base64'));
  return key;
}

const aad = (user: User, name: string) => Buffer.from(`berth-user-secret\0${user.id}\0${name}`);

function encrypt(key: Buffer, user: User, name: string, value: string): UserSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(user, name));
  const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return {
    name,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
    setAt: new Date().toISOString(),
  };
}

function decrypt(key: Buffer, user: User, secret: UserSecret): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(secret.iv, 'base64'));
    decipher.setAAD(aad(user, secret.name));
    decipher.setAuthTag(Buffer.from(secret.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(secret.data, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new BerthError(
      'SECRET_UNREADABLE',
      `Your ${secret.name} key cannot be read (the berth home's data key changed or the state was altered).`,
      `Set it again: /setkey ${secret.name} KEY (or berth user secret set LOGIN ${secret.name}).`,
    );
  }
}

/** Stores (or replaces) a user's secret, encrypted. */
export async function setUserSecret(store: StateStore, login: string, nameInput: string, valueInput: string): Promise<SecretListing> {
  const name = checkSecretName(nameInput);
  const value = checkSecretValue(name, valueInput);
  const agent = AGENTS.find((a) => a.secret === name);
  if (agent && !agent.keyPattern.test(value)) {
    throw invalidInput('INVALID_SECRET', `That does not look like an API key for ${name}.`, 'Paste the key alone, on one line.');
  }
  // Inside the transaction: two first secrets set at once make one data key, not two.
  return store.transact(async (state) => {
    const user = findUser(state, login);
    const key = (await dataKey(
      store.home,
      true,
      state.users.some((u) => (u.secrets ?? []).length > 0),
    )) as Buffer;
    const secret = encrypt(key, user, name, value);
    user.secrets = [...(user.secrets ?? []).filter((s) => s.name !== name), secret];
    return { name, setAt: secret.setAt };
  });
}

export async function listUserSecrets(store: StateStore, login: string): Promise<SecretListing[]> {
  const user = findUser(await store.read(), login);
  return (user.secrets ?? []).map((s) => ({ name: s.name, setAt: s.setAt }));
}

export async function unsetUserSecret(store: StateStore, login: string, nameInput: string): Promise<SecretListing> {
  const name = checkSecretName(nameInput);
  return store.transact((state) => {
    const user = findUser(state, login);
    const secret = (user.secrets ?? []).find((s) => s.name === name);
    if (!secret)
      throw new BerthError('SECRET_NOT_SET', `${login} has no ${name} secret.`, `See what is set: berth user secret list ${login}`);
    user.secrets = (user.secrets ?? []).filter((s) => s !== secret);
    if (user.secrets.length === 0) delete user.secrets;
    return { name, setAt: secret.setAt };
  });
}

export function hasUserSecret(state: State, login: string, name: string): boolean {
  return state.users.some((u) => u.login === login && (u.secrets ?? []).some((s) => s.name === name));
}

/** The clear value, for the agent's process only (handed over its stdin, never its environment). */
export async function revealUserSecret(store: StateStore, state: State, login: string, name: string): Promise<string | null> {
  const user = findUser(state, login);
  const secret = (user.secrets ?? []).find((s) => s.name === name);
  if (!secret) return null;
  const key = await dataKey(store.home, false);
  if (!key) {
    throw new BerthError(
      'SECRET_UNREADABLE',
      `Your ${name} key cannot be read (the berth home's data key is missing).`,
      `Set it again: /setkey ${name} KEY`,
    );
  }
  return decrypt(key, user, secret);
}
