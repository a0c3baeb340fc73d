import { findUser } from '../../domain/lookups.js';
import { parsePublicKey, parsePublicKeys } from '../../domain/ssh-keys.js';
import { BerthError } from '../../errors.js';
import type { SshKey } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { checkLogin, printable } from '../../values/names.js';
import { logAccessEvent } from '../vm/vm-event-log.js';

/** Adds every key in `text` (one or many lines) to a user, or none if any is refused. */
export async function addKeys(store: StateStore, login: string, text: string): Promise<SshKey[]> {
  checkLogin(login);
  const parsed = parsePublicKeys(text);
  return store.transact((state) => {
    const user = findUser(state, login);
    const added: SshKey[] = [];
    // A key may also be registered by other users: a login only ever checks its own keys, so that
    // gives nobody anything, and nobody can block a key's owner by registering its public half first
    // (nor learn that someone else holds it).
    for (const key of parsed) {
      if (user.keys.some((k) => k.fingerprint === key.fingerprint) || added.some((k) => k.fingerprint === key.fingerprint)) {
        throw new BerthError(
          'SSH_KEY_EXISTS',
          `Key ${key.fingerprint} is already registered for "${login}".`,
          'Nothing to do; see the keys with `berth user key list`.',
        );
      }
      added.push({ ...key, addedAt: new Date().toISOString() });
    }
    const max = effectiveConfig(state.config)['ssh.max-keys'];
    if (user.keys.length + added.length > max) {
      throw new BerthError(
        'SSH_KEY_LIMIT',
        `User "${login}" has ${user.keys.length} SSH key(s); ${added.length} more would pass the limit of ${max}.`,
        `Remove keys first (berth user key remove ${login} SHA256:…), or raise it: berth config set ssh.max-keys ${user.keys.length + added.length}`,
      );
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
