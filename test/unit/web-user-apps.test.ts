import { describe, expect, it } from 'vitest';
import { appIsPublic, ticketLanding } from '../../src/services/access/user-app-web.js';
import { originMayChangeApp, ownWebApp, resolveAppHost, resolveUserAppHost } from '../../src/services/access/web-access.js';
import type { WebIdentity } from '../../src/services/access/web-links.js';
import type { State } from '../../src/state/schema.js';
import { appLabelCandidates, userAppHostLabel, userAppLabelCandidates, userAppOrigin } from '../../src/values/web-paths.js';

const ALICE: WebIdentity = { userId: 'u-alice', login: 'alice', role: 'user' };

const app = (user: string, name: string, extra: Record<string, unknown> = {}) => ({
  user,
  userId: `u-${user}`,
  name,
  port: 8000,
  status: 'running',
  desired: 'running',
  ...extra,
});

const stateOf = (apps: unknown[], more: Record<string, unknown> = {}) =>
  ({
    vms: [{ user: 'alice', name: 'main' }],
    apps,
    users: [
      { id: 'u-alice', login: 'alice', role: 'user', status: 'allowed', plan: 'default', keys: [] },
      { id: 'u-bob', login: 'bob', role: 'user', status: 'allowed', plan: 'open', keys: [] },
    ],
    plans: [
      { name: 'default', appPublic: false },
      { name: 'open', appPublic: true },
    ],
    config: { 'web.apps-domain': 'apps.example.com' },
    ...more,
  }) as unknown as State;

describe("a user's app's host label", () => {
  it('is app--NAME--LOGIN, within a DNS label, and never a VM port’s', () => {
    expect(userAppHostLabel('alice', 'site')).toBe('app--site--alice');
    expect(userAppOrigin('https://berth.example.com:8443', 'apps.example.com', 'alice', 'site')).toBe(
      'https://app--site--alice.apps.example.com:8443',
    );
    expect(() => userAppHostLabel('a'.repeat(32), `s${'x'.repeat(30)}`)).toThrow(/at most 63/);
    // A VM port's label starts with its port; an app's with a letter: neither reads as the other.
    expect(appLabelCandidates('app--site--alice')).toEqual([]);
    expect(userAppLabelCandidates('8000--site--alice')).toEqual([]);
    expect(userAppLabelCandidates('app--a--b--cc')).toEqual([
      { name: 'a', login: 'b--cc' },
      { name: 'a--b', login: 'cc' },
    ]);
  });

  it('resolves by the state, and refuses a label two apps could claim', () => {
    expect(resolveUserAppHost(stateOf([app('alice', 'site')]), 'app--site--alice')).toMatchObject({ user: 'alice', name: 'site' });
    expect(resolveUserAppHost(stateOf([app('alice', 'site')]), 'app--site--bob')).toBeNull();
    expect(resolveUserAppHost(stateOf([app('b--cc', 'a'), app('cc', 'a--b')]), 'app--a--b--cc')).toBe('ambiguous');
    // The app is not a VM: a VM port's label naming it finds nothing.
    expect(resolveAppHost(stateOf([app('alice', 'site')]), '8000--site--alice')).toBeNull();
  });

  it('belongs to its owner only (the same account), and is public only where the owner’s plan says so', () => {
    const state = stateOf([app('alice', 'site'), app('bob', 'site')]);
    expect(ownWebApp(state, ALICE, 'alice', 'site')).not.toBeNull();
    expect(ownWebApp(state, ALICE, 'bob', 'site')).toBeNull();
    expect(ownWebApp(state, { ...ALICE, userId: 'u-other' }, 'alice', 'site')).toBeNull();
    expect(appIsPublic(state, state.apps?.[0] as never)).toBe(false);
    expect(appIsPublic(state, state.apps?.[1] as never)).toBe(true);
  });

  it('may be changed from its owner’s other app origins only', () => {
    const state = stateOf([app('alice', 'site'), app('bob', 'site')]);
    const url = 'https://berth.example.com';
    expect(originMayChangeApp(state, url, 'https://app--site--alice.apps.example.com', 'alice')).toBe(true);
    expect(originMayChangeApp(state, url, 'https://app--site--bob.apps.example.com', 'alice')).toBe(false);
    expect(originMayChangeApp(state, url, 'http://app--site--alice.apps.example.com', 'alice')).toBe(false);
  });

  it('a link lands on the exchange with an apps domain, and is refused without one', () => {
    const ticket = { who: ALICE, vm: '', target: { kind: 'user-app' as const, app: 'site' }, expiresAt: 0 };
    expect(ticketLanding(stateOf([app('alice', 'site')]), ticket)).toEqual({ location: '/apps/alice/site', what: 'app:alice/site' });
    expect(ticketLanding(stateOf([app('bob', 'site')]), ticket)).toBeNull();
    expect(() => ticketLanding(stateOf([app('alice', 'site')], { config: {} }), ticket)).toThrow(/web.apps-domain/);
    const vmTicket = { who: ALICE, vm: 'main', target: { kind: 'terminal' as const }, expiresAt: 0 };
    expect(ticketLanding(stateOf([]), vmTicket)).toEqual({ location: '/terminal/alice/main', what: 'alice/main' });
  });
});
