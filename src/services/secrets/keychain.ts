import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { BerthError } from '../../errors.js';

/**
 * The secrets of one berth home (the bot token, the data key of users' secrets…): the OS keychain
 * (keytar, under a service name per secret and the home's path as account) when a Secret Service
 * answers, else one field each of `$BERTH_HOME/secrets.json` (0600, replaced whole by rename).
 */
const KEYCHAIN_TIMEOUT_MS = 5000;

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

/** Where a secret lives. */
export interface StoredSecret {
  source: 'keychain' | 'file';
  /** Why the keychain was not used, when it was not. */
  keychainUnavailable?: string;
}

export function secretsPath(home: string): string {
  return join(home, 'secrets.json');
}

/** keytar is optional: missing (no native build) or unusable (no Secret Service) → why. */
async function keychain(): Promise<{ keytar: Keytar } | { unavailable: string }> {
  try {
    return { keytar: createRequire(import.meta.url)('keytar') as Keytar };
  } catch (err) {
    return { unavailable: `keytar is not installed (${(err as Error).message.split('\n')[0]})` };
  }
}

function withTimeout<T>(work: Promise<T>, ms = KEYCHAIN_TIMEOUT_MS): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('the Secret Service did not answer')), ms).unref()),
  ]);
}

/** Whether secrets would go to the OS keychain: keytar loads and a Secret Service answers. */
export async function keychainStatus(): Promise<{ inUse: boolean; detail: string }> {
  const kc = await keychain();
  if (!('keytar' in kc)) return { inUse: false, detail: kc.unavailable };
  try {
    await withTimeout(kc.keytar.getPassword('berth-telegram', 'berth-probe'), 2000);
    return { inUse: true, detail: 'Secret Service' };
  } catch (err) {
    return { inUse: false, detail: `no Secret Service (${(err as Error).message.split('\n')[0]})` };
  }
}

async function readSecrets(home: string): Promise<Record<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(secretsPath(home), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError(
      'SECRETS_UNREADABLE',
      `Cannot read ${secretsPath(home)}.`,
      'Fix or remove the file, then store the bot tokens again (berth telegram setup, berth discord setup).',
    );
  }
}

async function writeSecrets(home: string, secrets: Record<string, string>): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const path = secretsPath(home);
  if (Object.keys(secrets).length === 0) {
    await rm(path, { force: true });
    return;
  }
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(secrets, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

async function dropField(home: string, field: string): Promise<boolean> {
  const { [field]: old, ...rest } = await readSecrets(home);
  if (old === undefined) return false;
  await writeSecrets(home, rest);
  return true;
}

/** A secret of this home: the keychain's entry under `service`, else `field` of secrets.json. */
export async function loadHomeSecret(
  home: string,
  service: string,
  field: string,
): Promise<{ value: string; source: StoredSecret['source'] } | null> {
  const kc = await keychain();
  if ('keytar' in kc) {
    const value = await withTimeout(kc.keytar.getPassword(service, resolve(home))).catch(() => null);
    if (value) return { value, source: 'keychain' };
  }
  const value = (await readSecrets(home))[field];
  return value ? { value, source: 'file' } : null;
}

/** Stores a secret in the keychain when a Secret Service answers (dropping any copy in the file), else in the file. */
export async function saveHomeSecret(home: string, service: string, field: string, value: string): Promise<StoredSecret> {
  const kc = await keychain();
  let unavailable: string;
  if ('keytar' in kc) {
    try {
      await withTimeout(kc.keytar.setPassword(service, resolve(home), value));
      await dropField(home, field);
      return { source: 'keychain' };
    } catch (err) {
      unavailable = `no Secret Service (${(err as Error).message.split('\n')[0]})`;
    }
  } else {
    unavailable = kc.unavailable;
  }
  await writeSecrets(home, { ...(await readSecrets(home)), [field]: value });
  return { source: 'file', keychainUnavailable: unavailable };
}

/** Forgets a secret everywhere it was stored; whether there was one. */
export async function removeHomeSecret(home: string, service: string, field: string): Promise<boolean> {
  const kc = await keychain();
  let removed = false;
  if ('keytar' in kc) removed = await withTimeout(kc.keytar.deletePassword(service, resolve(home))).catch(() => false);
  return (await dropField(home, field)) || removed;
}
