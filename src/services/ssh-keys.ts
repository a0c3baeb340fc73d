import { checkLogin, printable } from '../domain/names.js';
import { parsePublicKey, parsePublicKeys } from '../domain/ssh-keys.js';
import { BerthError } from '../errors.js';
import type { SshKey } from '../state/schema.js';
import type { StateStore } from '../state/store.js';
import { findUser } from './users.js';
import { logAccessEvent } from './vm-event-log.js';

/** Adds every key in `text` (one or many lines) to a user, or none if any is refused. */
export async function addKeys(store: StateStore, login: string, text: string): Promise<SshKey[]> {
  checkLogin(login);
  const parsed = parsePublicKeys(text);
  return store.transact((state) => {
    const user = findUser(state, login);
    const added: SshKey[] = [];
    for (const key of parsed) {
      const owner = state.users.find((u) => u.keys.some((k) => k.fingerprint === key.fingerprint));
      if (owner === user || added.some((k) => k.fingerprint === key.fingerprint)) {
        throw new BerthError(
          'SSH_KEY_EXISTS',
          `Key ${key.fingerprint} is already registered for "${login}".`,
          'Nothing to do; see the keys with `berth user key list`.',
        );
      }
      if (owner) {
        throw new BerthError(
          'SSH_KEY_TAKEN',
          `Key ${key.fingerprint} is already registered to another user.`,
          'A key identifies one user: make a separate key for this user (ssh-keygen -t ed25519).',
        );
      }
      added.push({ ...key, addedAt: new Date().toISOString() });
    }
    user.keys.push(...added);
    return added;
  });
}

export async function listKeys(store: StateStore, login: string): Promise<SshKey[]> {
  return findUser(await store.read(), checkLogin(login)).keys;
}

/** Removes a key named by its fingerprint (`SHA256:…`) or given whole. */
export async function removeKey(store: StateStore, login: string, keyOrFingerprint: string, by = 'operator'): Promise<SshKey> {
  checkLogin(login);
  const text = keyOrFingerprint.trim();
  const wanted = text.startsWith('SHA256:') ? text : parsePublicKey(text).fingerprint;
  return store.transact((state) => {
    const user = findUser(state, login);
    const key = user.keys.find((k) => k.fingerprint === wanted);
    if (!key) {
      throw new BerthError(
        'SSH_KEY_NOT_FOUND',
        `User "${login}" has no key ${printable(wanted, 60)}.`,
        `See their keys with: berth user key list ${login}`,
      );
    }
    user.keys = user.keys.filter((k) => k !== key);
    // SSH connections that logged in with this key are closed by the gateway when it sees this.
    logAccessEvent(state, login, `key ${key.fingerprint} removed by ${by}`);
    return key;
  });
}
