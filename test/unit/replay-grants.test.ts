import { describe, expect, it } from 'vitest';
import { ReplayGrants } from '../../daemon/web/replay-grants.js';
import { OPERATOR_VIEWER } from '../../src/services/access/recording-links.js';

const alice = { userId: 'u-alice', login: 'alice', role: 'user' as const };

describe('replay grants', () => {
  it('open only the recording they were given for, with the token the cookie holds', () => {
    const grants = new ReplayGrants();
    const { token, grant } = grants.create(OPERATOR_VIEWER, 'aaaaaaaaaaaa');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(grants.find([token], 'aaaaaaaaaaaa')).toBe(grant);
    expect(grants.find([token], 'bbbbbbbbbbbb')).toBeNull();
    expect(grants.find([`${token.slice(0, 42)}x`], 'aaaaaaaaaaaa')).toBeNull();
    expect(grants.find(['not a token', ''], 'aaaaaaaaaaaa')).toBeNull();
    // Among several cookies of that name, the one for this recording.
    const other = grants.create(alice, 'bbbbbbbbbbbb');
    expect(grants.find([token, other.token], 'bbbbbbbbbbbb')).toBe(other.grant);
  });

  it('last an hour', () => {
    let now = 1_000_000;
    const grants = new ReplayGrants(() => now);
    const { token } = grants.create(alice, 'aaaaaaaaaaaa');
    now += 60 * 60_000 - 1;
    expect(grants.find([token], 'aaaaaaaaaaaa')).not.toBeNull();
    now += 1;
    expect(grants.find([token], 'aaaaaaaaaaaa')).toBeNull();
    expect(grants.size).toBe(0);
    grants.create(alice, 'aaaaaaaaaaaa');
    now += 2 * 60 * 60_000;
    grants.sweep();
    expect(grants.size).toBe(0);
  });

  it('are bounded: past the most held, the oldest goes', () => {
    const grants = new ReplayGrants(Date.now, { max: 3 });
    const made = Array.from({ length: 5 }, (_, i) => grants.create(alice, `${i}`.repeat(12)));
    expect(grants.size).toBe(3);
    expect(grants.find([made[0]?.token ?? ''], '000000000000')).toBeNull();
    expect(grants.find([made[1]?.token ?? ''], '111111111111')).toBeNull();
    expect(grants.find([made[4]?.token ?? ''], '444444444444')).not.toBeNull();
    // The daemon's own bound: 1000.
    const daemons = new ReplayGrants();
    for (let i = 0; i < 1001; i++) daemons.create({ ...alice, userId: `u${i % 100}` }, 'aaaaaaaaaaaa');
    expect(daemons.size).toBe(1000);
    // One viewer holds at most 20: the operator's grant outlives any number of a user's.
    const mixed = new ReplayGrants();
    const op = mixed.create(OPERATOR_VIEWER, 'aaaaaaaaaaaa');
    for (let i = 0; i < 500; i++) mixed.create(alice, 'bbbbbbbbbbbb');
    expect(mixed.size).toBe(21);
    expect(mixed.find([op.token], 'aaaaaaaaaaaa')).not.toBeNull();
  });

  it('end when their viewer’s access is withdrawn', () => {
    const grants = new ReplayGrants();
    const op = grants.create(OPERATOR_VIEWER, 'aaaaaaaaaaaa');
    const hers = grants.create(alice, 'bbbbbbbbbbbb');
    expect(grants.drop((g) => (g.who.userId === alice.userId ? 'revoked' : null))).toBe(1);
    expect(grants.find([hers.token], 'bbbbbbbbbbbb')).toBeNull();
    expect(grants.find([op.token], 'aaaaaaaaaaaa')).not.toBeNull();
  });
});
