import { describe, expect, it } from 'vitest';
import { botDecision, listenFailure, startupPlan } from '../../daemon/startup-plan.js';
import { BerthError } from '../../src/errors.js';

const everything = [
  'api',
  'pid-file',
  'firewall',
  'homes',
  'events',
  'nodes',
  'scheduler',
  'ssh',
  'web',
  'outbox-dir',
  'agents',
  'telegram',
  'discord',
  'log-limits',
];
const stopAll = ['ssh', 'web', 'telegram', 'discord', 'log-limits', 'agents', 'api', 'scheduler', 'events', 'nodes', 'firewall'];
const without = (list: string[], ...gone: string[]) => list.filter((s) => !gone.includes(s));

describe("the daemon's start-up plan", () => {
  it.each([
    { why: 'everything on, own log file', ssh: true, web: true, logToFile: true, off: [] },
    { why: 'in the foreground (stdout): no log limits to follow', ssh: true, web: true, logToFile: false, off: ['log-limits'] },
    { why: 'no SSH gateway', ssh: false, web: true, logToFile: true, off: ['ssh'] },
    { why: 'no web server', ssh: true, web: false, logToFile: true, off: ['web'] },
    { why: 'neither listener, foreground', ssh: false, web: false, logToFile: false, off: ['ssh', 'web', 'log-limits'] },
  ])('$why', ({ ssh, web, logToFile, off }) => {
    const plan = startupPlan({ 'ssh.enabled': ssh, 'web.enabled': web }, { logToFile });
    expect(plan.logFile).toBe(logToFile);
    expect(plan.start).toEqual(without(everything, ...off));
    expect(plan.stop).toEqual(without(stopAll, ...off));
    expect(plan.initial).toEqual([
      { name: 'api', state: 'starting', detail: '' },
      { name: 'scheduler', state: 'starting', detail: '' },
      { name: 'events', state: 'starting', detail: '' },
      { name: 'ssh', state: ssh ? 'starting' : 'disabled', detail: ssh ? '' : 'ssh.enabled is off' },
      { name: 'web', state: web ? 'starting' : 'disabled', detail: web ? '' : 'web.enabled is off' },
    ]);
  });

  it('starts the API first and the firewall before anything that touches the VMs; the bot after the listeners', () => {
    const { start } = startupPlan({ 'ssh.enabled': true, 'web.enabled': true }, { logToFile: true });
    expect(start[0]).toBe('api');
    for (const later of ['homes', 'events', 'nodes', 'scheduler', 'ssh', 'web']) {
      expect(start.indexOf('firewall')).toBeLessThan(start.indexOf(later as never));
    }
    expect(start.indexOf('telegram')).toBeGreaterThan(start.indexOf('web'));
    expect(start.indexOf('outbox-dir')).toBeLessThan(start.indexOf('telegram'));
  });

  it('stops only what has something to stop, the sessions first, the engine watchers last', () => {
    const { start, stop } = startupPlan({ 'ssh.enabled': true, 'web.enabled': true }, { logToFile: true });
    for (const step of stop) expect(start).toContain(step);
    for (const oneOff of ['pid-file', 'homes', 'outbox-dir']) expect(stop).not.toContain(oneOff);
    expect(stop.slice(0, 2)).toEqual(['ssh', 'web']);
    expect(stop.at(-1)).toBe('firewall');
  });
});

describe("the bot's start", () => {
  it.each([
    { why: 'a token', token: { token: 't', source: 'file' }, out: { start: true, token: { token: 't', source: 'file' } } },
    { why: 'no token', token: null, out: { start: false, state: 'disabled', detail: 'no token — run berth telegram setup' } },
    { why: 'a token file that cannot be read', token: new Error('EACCES'), out: { start: false, state: 'failed', detail: 'EACCES' } },
  ])('$why', ({ token, out }) => {
    expect(botDecision(token)).toEqual(out);
  });
});

describe('a listener that did not start', () => {
  it.each([
    { why: 'says what berth said', err: new BerthError('X', 'port 22 is taken', 'pick another'), out: 'port 22 is taken' },
    { why: 'else where it could not listen', err: new Error('EADDRINUSE'), out: 'could not listen on 0.0.0.0:2222' },
    { why: 'whatever was thrown', err: 'boom', out: 'could not listen on 0.0.0.0:2222' },
  ])('$why', ({ err, out }) => {
    expect(listenFailure(err, '0.0.0.0:2222')).toBe(out);
  });
});
