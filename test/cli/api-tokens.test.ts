import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { verifyApiToken } from '../../src/services/apps/api-tokens.js';
import { StateStore } from '../../src/state/store.js';
import { ApiTokenCreatedViewSchema, ApiTokenRevokedViewSchema, ApiTokenViewSchema } from '../../src/views/api-token-view.js';
import { berth, berthJson, stateText, tempHome } from '../helpers/cli.js';

let home: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  expect((await berth(home, ['init'])).code).toBe(0);
  expect((await berth(home, ['user', 'allow', 'alice'])).code).toBe(0);
});
afterEach(() => cleanup());

const verify = async (token: string) => verifyApiToken(await new StateStore(home).read(), token);

describe('berth user token', () => {
  it('creates a token that verifies, lists it without the secret, and revokes it', async () => {
    const made = ApiTokenCreatedViewSchema.parse(await berthJson(home, ['user', 'token', 'create', 'alice', '--name', 'github-ci']));
    expect(made).toMatchObject({ login: 'alice', name: 'github-ci' });
    expect(made.token).toMatch(new RegExp(`^berth_${made.id}_[A-Za-z0-9_-]{43}$`));
    expect((await verify(made.token))?.user.login).toBe('alice');
    expect(await stateText(home)).not.toContain(made.token);

    const listed = z.array(ApiTokenViewSchema).parse(await berthJson(home, ['user', 'token', 'list', 'alice']));
    expect(listed).toEqual([{ id: made.id, name: 'github-ci', createdAt: made.createdAt, lastUsedAt: null }]);
    const table = await berth(home, ['user', 'token', 'list', 'alice']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+CREATED\s+LAST USED$/);
    expect(table.stdout).toContain(made.id);
    expect(table.stdout).toContain('never');
    expect(table.stdout).not.toContain(made.token);

    const revoked = ApiTokenRevokedViewSchema.parse(await berthJson(home, ['user', 'token', 'revoke', 'alice', made.id]));
    expect(revoked).toEqual({ login: 'alice', id: made.id, name: 'github-ci' });
    expect(await verify(made.token)).toBeNull();
    expect(z.array(ApiTokenViewSchema).parse(await berthJson(home, ['user', 'token', 'list', 'alice']))).toEqual([]);
    expect((await berth(home, ['user', 'token', 'list', 'alice'])).stdout).toContain('alice has no API tokens');
  });

  it('prints the token alone on stdout, once, and says on stderr that it is shown only once', async () => {
    const run = await berth(home, ['user', 'token', 'create', 'alice']);
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    expect(token).toMatch(/^berth_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(run.stderr).toContain('shown only once');
    expect(run.stderr).toContain(`token-${token.slice(6, 14)}`);
    expect((await verify(token))?.user.login).toBe('alice');
  });

  it('refuses with stable codes: unknown token id, bad name, user not allowed', async () => {
    const missing = await berth(home, ['user', 'token', 'revoke', 'alice', 'deadbeef', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'TOKEN_NOT_FOUND' } });
    expect(missing.stdout).toBe('');

    const badName = await berth(home, ['user', 'token', 'create', 'alice', '--name', 'x'.repeat(41)]);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('not a usable token name');

    expect((await berth(home, ['user', 'revoke', 'alice'])).code).toBe(0);
    const refused = await berth(home, ['user', 'token', 'create', 'alice']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('berth user allow alice');
    expect(refused.stdout).toBe('');
  });
});
