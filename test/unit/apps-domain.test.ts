import { describe, expect, it } from 'vitest';
import {
  appFor,
  appLimits,
  checkEntrypoint,
  checkGitSource,
  checkImageAllowed,
  crashVerdict,
  DEFAULT_APP_LIMITS,
  guessEntrypoint,
  imageAllowed,
  parseAppRef,
  parseEnv,
  parseSecretRefs,
  vmPath,
} from '../../src/domain/apps.js';
import type { App, Plan, State } from '../../src/state/schema.js';

const plan = (extra: Partial<Plan> = {}): Plan => ({
  name: 'p',
  gpu: 0,
  pids: 512,
  maxVms: 1,
  sudo: false,
  maxLifetimeSeconds: 0,
  description: '',
  ...extra,
});

describe('the rules of apps', () => {
  it('take limits from the plan, else the bot-runner defaults', () => {
    expect(appLimits(plan())).toEqual({ ...DEFAULT_APP_LIMITS, public: false });
    expect(appLimits(plan({ maxApps: 0, appCpu: 2, appRamBytes: 2 ** 30, appPids: 300, appLifetimeSeconds: 0, appPublic: true }))).toEqual({
      maxApps: 0,
      cpu: 2,
      memoryBytes: 2 ** 30,
      pids: 300,
      lifetimeSeconds: 0,
      public: true,
    });
  });

  it('restart after a crash with growing backoff, and stay down past the limit within an hour', () => {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    let crashes: string[] = [];
    const waits: number[] = [];
    for (let n = 0; n < 3; n++) {
      const v = crashVerdict(crashes, t(n * 10), 3);
      expect(v.crashed).toBe(false);
      waits.push(v.backoffMs);
      crashes = v.crashes;
    }
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(crashVerdict(crashes, t(40), 3).crashed).toBe(true);
    // Crashes older than an hour no longer count.
    const later = crashVerdict(crashes, new Date(t(40).getTime() + 3600_000), 3);
    expect(later.crashes).toHaveLength(1);
    expect(later.crashed).toBe(false);
    // The backoff stops growing at a minute.
    expect(
      crashVerdict(
        Array.from({ length: 20 }, (_, i) => t(i).toISOString()),
        t(30),
        100,
      ).backoffMs,
    ).toBe(60_000);
  });

  it('take NAME=value variables, refusing berth’s own and malformed ones', () => {
    expect(parseEnv(['MODE=prod', 'EMPTY=', 'MODE=dev', 'URL=a=b'])).toEqual({ MODE: 'dev', EMPTY: '', URL: 'a=b' });
    for (const bad of ['NOEQUALS', '=x', '1X=y', 'PATH=/x', 'LD_PRELOAD=/x', 'BERTH_USER=x', 'NODE_OPTIONS=--x', 'A-B=c'])
      expect(() => parseEnv([bad]), bad).toThrow(/NAME=value|not a variable/);
    expect(() => parseEnv(Array.from({ length: 65 }, (_, i) => `V${i}=x`))).toThrow(/More than 64/);
  });

  it('name secrets as variables: NAME upper-cased, or VAR=name', () => {
    expect(parseSecretRefs(['bot-token', 'KEY=api-key'])).toEqual([
      { env: 'BOT_TOKEN', name: 'bot-token' },
      { env: 'KEY', name: 'api-key' },
    ]);
    expect(() => parseSecretRefs(['PATH=x'])).toThrow(/not a variable/);
    expect(() => parseSecretRefs(['Bad Name'])).toThrow(/does not name a secret/);
  });

  it('find what to run: the given file, the usual names, or the one file of the language', () => {
    expect(guessEntrypoint(['bot.py', 'requirements.txt'], {})).toEqual({ runtime: 'python', entrypoint: 'bot.py' });
    expect(guessEntrypoint(['site.py'], {})).toEqual({ runtime: 'python', entrypoint: 'site.py' });
    expect(guessEntrypoint(['package.json', 'index.js'], {})).toEqual({ runtime: 'node', entrypoint: 'index.js' });
    expect(guessEntrypoint(['src/run.js', 'package.json'], { entrypoint: 'src/run.js' })).toEqual({
      runtime: 'node',
      entrypoint: 'src/run.js',
    });
    expect(() => guessEntrypoint(['a.py', 'b.py'], {})).toThrow(/Name the file|none of/);
    expect(() => guessEntrypoint(['README.md'], {})).toThrow(/Python or Node/);
    expect(() => guessEntrypoint(['bot.py'], { entrypoint: 'main.py' })).toThrow(/no file main.py/);
    for (const bad of ['../x.py', '/etc/passwd', '-x.py', '']) expect(() => checkEntrypoint(bad), bad).toThrow(/not a file inside/);
  });

  it('take only http(s) git URLs without credentials, and branch names that are not options', () => {
    expect(checkGitSource('https://example.org/a/b.git', 'main')).toEqual({ url: 'https://example.org/a/b.git', branch: 'main' });
    for (const [url, branch] of [
      ['ssh://git@example.org/a.git', 'main'],
      ['file:///etc', 'main'],
      ['ext::sh -c id', 'main'],
      ['https://user:pw@example.org/a.git', 'main'],
      ['https://example.org/a.git', '--upload-pack=id'],
      ['https://example.org/a.git', 'a..b'],
      ['https://example.org/a.git', 'x.lock'],
    ] as const)
      expect(() => checkGitSource(url, branch), `${url} ${branch}`).toThrow(/INVALID|http|credentials|branch/i);
  });

  it('allow images by name or pattern only', () => {
    const allowed = ['python:3.12-slim', 'ghcr.io/acme/*', 'redis'];
    expect(imageAllowed(allowed, 'python:3.12-slim')).toBe(true);
    expect(imageAllowed(allowed, 'ghcr.io/acme/bot:1')).toBe(true);
    expect(imageAllowed(allowed, 'redis')).toBe(true);
    expect(imageAllowed(allowed, 'redis:latest')).toBe(true);
    expect(imageAllowed(allowed, 'python:3.13')).toBe(false);
    expect(imageAllowed(allowed, 'ghcr.io/acmeevil/bot')).toBe(false);
    expect(imageAllowed(allowed, 'evil.io/ghcr.io/acme/x')).toBe(false);
    expect(imageAllowed([], 'anything')).toBe(false);
  });

  it('read VM paths in the VM only, and app references', () => {
    expect(vmPath('~/bot', 'alice')).toBe('/home/alice/bot');
    expect(vmPath('bot/', 'alice')).toBe('/home/alice/bot');
    expect(vmPath('/home/alice/bot', 'alice')).toBe('/home/alice/bot');
    for (const bad of ['/srv/x', '/etc', '/home/bob/bot', '/home/alice2/x', '~/../../etc', '/home/alice/../bob'])
      expect(() => vmPath(bad, 'alice'), bad).toThrow(/not a folder of your home/);
    expect(parseAppRef('alice/bot')).toEqual({ user: 'alice', name: 'bot' });
    expect(parseAppRef('bot')).toEqual({ name: 'bot' });
    expect(() => parseAppRef('a/b/c')).toThrow(/USER\/NAME/);
  });

  it("tell someone who may not reach a user's apps nothing of whether an app exists", () => {
    const state = { apps: [{ user: 'alice', name: 'bot' } as App] } as unknown as State;
    const bob = { role: 'user' as const, login: 'bob', reach: 'own' as const };
    const alice = { role: 'user' as const, login: 'alice', reach: 'own' as const };
    const refusal = (ref: string) => {
      try {
        appFor(state, ref, bob);
      } catch (err) {
        return `${(err as { code: string }).code}: ${(err as Error).message}`;
      }
      return 'found';
    };
    expect(refusal('alice/bot')).toBe(refusal('alice/nothing').replace('nothing', 'bot'));
    expect(refusal('alice/bot')).toMatch(/^APP_NOT_FOUND/);
    expect(appFor(state, 'bot', alice).name).toBe('bot');
    expect(appFor(state, 'alice/bot', { role: 'admin', reach: 'any' }).name).toBe('bot');
    expect(() => appFor(state, 'a/b/c', alice)).toThrow(/USER\/NAME/);
    expect(() => checkImageAllowed([], 'x')).toThrow(/not one the operator allows/);
  });
});
