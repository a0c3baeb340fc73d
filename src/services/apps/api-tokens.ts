import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { findUser } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import type { ApiToken, State, User } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { checkLogin, printable } from '../../values/names.js';

/*
 * Per-user tokens for berth's HTTP API (users' CI deploys their apps with them). A token is
 * `berth_<id>_<secret>`: the id (8 hex digits, unique within the user) names it in listings and
 * revocations, the secret is 32 random bytes in base64url. Only the SHA-256 of the whole token is
 * kept: the token itself is shown once, when made, and is in no file, log or listing afterwards.
 * A token works only while its user is allowed: revoking the user stops it, removing them drops it.
 */

export const MAX_API_TOKENS = 10;

const PREFIX = 'berth_';
const ID_LENGTH = 8;
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const SECRET_LENGTH = 43;
const TOKEN_LENGTH = PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;
const TOKEN_PATTERN = /^berth_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;
const MAX_NAME = 40;
/** lastUsedAt is written at most this often per token: an API call is not a state write. */
const TOUCH_INTERVAL_MS = 60_000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const UNSAFE_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

export interface ApiTokenListing {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt?: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

function checkTokenName(input: string): string {
  const name = input.trim();
  if (!name || name.length > MAX_NAME || UNSAFE_NAME.test(name)) {
    throw invalidInput(
      'TOKEN_NAME_INVALID',
      `"${printable(input)}" is not a usable token name (empty, longer than ${MAX_NAME} characters, or with control characters).`,
      'Name it with one short line, e.g. --name github-ci.',
    );
  }
  return name;
}

function listing(token: ApiToken): ApiTokenListing {
  return {
    id: token.id,
    name: token.name,
    createdAt: token.createdAt,
    ...(token.lastUsedAt === undefined ? {} : { lastUsedAt: token.lastUsedAt }),
  };
}

function newTokenId(taken: Set<string>): string {
  for (;;) {
    const id = randomBytes(ID_LENGTH / 2).toString('hex');
    if (!taken.has(id)) return id;
  }
}

/** Makes a token for an allowed user; the token itself is in the answer and nowhere else. */
export async function createApiToken(
  store: StateStore,
  login: string,
  name?: string,
): Promise<{ token: string; id: string; name: string; createdAt: string }> {
  checkLogin(login);
  const chosen = name === undefined ? undefined : checkTokenName(name);
  return store.transact((state) => {
    const user = findUser(state, login);
    if (user.status !== 'allowed') {
      throw new BerthError(
        'USER_NOT_ALLOWED',
        `User "${login}" is ${user.status}; only allowed users have API tokens.`,
        `Allow them first: berth user allow ${login}`,
      );
    }
    const tokens = user.apiTokens ?? [];
    if (tokens.length >= MAX_API_TOKENS) {
      throw new BerthError(
        'TOKEN_LIMIT',
        `${login} has ${tokens.length} API tokens, as many as berth keeps (${MAX_API_TOKENS}).`,
        `Revoke one first: berth user token list ${login}, then berth user token revoke ${login} ID`,
      );
    }
    const id = newTokenId(new Set(tokens.map((t) => t.id)));
    const token = `${PREFIX}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
    const created: ApiToken = {
      id,
      name: chosen ?? `token-${id}`,
      hash: sha256(token).toString('hex'),
      createdAt: new Date().toISOString(),
    };
    user.apiTokens = [...tokens, created];
    return { token, id, name: created.name, createdAt: created.createdAt };
  });
}

/** A user's tokens: ids, names and dates, never their hashes. */
export async function listApiTokens(store: StateStore, login: string): Promise<ApiTokenListing[]> {
  const user = findUser(await store.read(), checkLogin(login));
  return (user.apiTokens ?? []).map(listing);
}

/** Forgets a token: the next call made with it is refused. */
export async function revokeApiToken(store: StateStore, login: string, id: string): Promise<{ id: string; name: string }> {
  checkLogin(login);
  return store.transact((state) => {
    const user = findUser(state, login);
    const token = (user.apiTokens ?? []).find((t) => t.id === id);
    if (!token) {
      throw new BerthError(
        'TOKEN_NOT_FOUND',
        `${login} has no API token "${printable(id)}".`,
        `See their tokens: berth user token list ${login}`,
      );
    }
    user.apiTokens = (user.apiTokens ?? []).filter((t) => t !== token);
    if (user.apiTokens.length === 0) delete user.apiTokens;
    return { id: token.id, name: token.name };
  });
}

/**
 * The allowed user a token belongs to, or null (malformed, unknown, revoked, or of a user who is
 * not allowed). Pure and cheap on hostile input: its length is checked before anything else, and
 * it never throws.
 */
export function verifyApiToken(state: State, token: string): { user: User; tokenId: string } | null {
  if (typeof token !== 'string' || token.length !== TOKEN_LENGTH) return null;
  const id = TOKEN_PATTERN.exec(token)?.[1];
  if (!id) return null;
  const presented = sha256(token);
  for (const user of state.users) {
    for (const kept of user.apiTokens ?? []) {
      if (kept.id !== id) continue;
      const hash = Buffer.from(kept.hash, 'hex');
      if (hash.length === presented.length && timingSafeEqual(hash, presented) && user.status === 'allowed') {
        return { user, tokenId: id };
      }
    }
  }
  return null;
}

/**
 * Records that a token was used, at most once a minute per token: the state is read first and
 * the transaction (its lock and write) skipped while the recorded use is recent. A token revoked
 * meanwhile is left alone.
 */
export async function touchApiToken(store: StateStore, login: string, id: string, now: Date = new Date()): Promise<void> {
  const tokenIn = (state: State) => state.users.find((u) => u.login === login)?.apiTokens?.find((t) => t.id === id);
  const due = (token: ApiToken | undefined): token is ApiToken =>
    token !== undefined && !(token.lastUsedAt !== undefined && now.getTime() - Date.parse(token.lastUsedAt) < TOUCH_INTERVAL_MS);
  if (!due(tokenIn(await store.read()))) return;
  await store.transact((state) => {
    const token = tokenIn(state);
    if (due(token)) token.lastUsedAt = now.toISOString();
  });
}
