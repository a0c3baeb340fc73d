import { describe, expect, it } from 'vitest';
import {
  auditOutcome,
  exitOutcome,
  exitReport,
  exitTimeoutNote,
  hangsUp,
  killedNote,
  SFTP_SERVER,
  sessionEnv,
  sessionEol,
  sessionProgram,
  sessionSignal,
  startFailure,
  usableSize,
} from '../../daemon/ssh/session-plan.js';
import { BerthError } from '../../src/errors.js';

const LOGIN_SHELL = ['/bin/sh', '-c', 'if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi'];
const HELPER = '/usr/local/lib/berth/vm-helper';
const underHelper = (cmd: string[]) => [HELPER, 'run', '/tmp/.berth-exit-abc123', '--', ...cmd];

describe('what a gateway session runs', () => {
  it.each([
    ['a shell without the helper', 'shell', undefined, null, LOGIN_SHELL, false],
    ['a shell under the helper', 'shell', undefined, HELPER, underHelper(LOGIN_SHELL), true],
    ['a command without the helper', 'exec', 'ls -la', null, ['/bin/sh', '-c', 'ls -la'], false],
    ['a command under the helper', 'exec', 'ls -la', HELPER, underHelper(['/bin/sh', '-c', 'ls -la']), true],
    ['an empty command', 'exec', undefined, null, ['/bin/sh', '-c', ''], false],
    ['sftp, never under the helper', 'subsystem', 'sftp', HELPER, ['/bin/sh', '-c', SFTP_SERVER], false],
    ['sftp without the helper', 'subsystem', 'sftp', null, ['/bin/sh', '-c', SFTP_SERVER], false],
  ] as const)('%s', (_what, kind, command, helper, cmd, wrapped) => {
    expect(sessionProgram(kind, command, helper, 'abc123')).toEqual({ cmd, wrapped });
  });

  it('looks for sftp-server in each distribution’s place and says so when there is none', () => {
    expect(SFTP_SERVER).toContain('/usr/lib/openssh/sftp-server');
    expect(SFTP_SERVER).toContain('/usr/libexec/openssh/sftp-server');
    expect(SFTP_SERVER).toMatch(/exit 127$/);
  });
});

describe('the environment of a gateway session', () => {
  it.each([
    ['no pty: no TERM, not even the client’s', ['LANG=C.UTF-8', 'TERM=vt100'], null, [], ['LANG=C.UTF-8', 'BERTH_SESSION=s1']],
    [
      'the pty’s terminal type over the client’s TERM',
      ['TERM=vt100', 'LANG=C'],
      { term: 'xterm-256color' },
      [],
      ['LANG=C', 'TERM=xterm-256color', 'BERTH_SESSION=s1'],
    ],
    ['the client’s TERM when the pty names none', ['TERM=vt100'], { term: '' }, [], ['TERM=vt100', 'BERTH_SESSION=s1']],
    ['xterm when neither names one', ['LC_ALL=C'], { term: '' }, [], ['LC_ALL=C', 'TERM=xterm', 'BERTH_SESSION=s1']],
    [
      'the forwarding’s variables last',
      ['GIT_PROTOCOL=version=2'],
      null,
      ['SSH_AUTH_SOCK=/tmp/agent.sock', 'DISPLAY=localhost:10'],
      ['GIT_PROTOCOL=version=2', 'BERTH_SESSION=s1', 'SSH_AUTH_SOCK=/tmp/agent.sock', 'DISPLAY=localhost:10'],
    ],
  ] as const)('%s', (_what, clientEnv, pty, forwardEnv, env) => {
    expect(sessionEnv(clientEnv, pty, 's1', forwardEnv)).toEqual(env);
  });

  it('leaves the client’s list as it was', () => {
    const clientEnv = ['TERM=vt100', 'LANG=C'];
    sessionEnv(clientEnv, { term: 'xterm' }, 's1', []);
    expect(clientEnv).toEqual(['TERM=vt100', 'LANG=C']);
  });

  it('ends lines with CRLF on a pty only', () => {
    expect(sessionEol({ term: 'xterm' })).toBe('\r\n');
    expect(sessionEol(null)).toBe('\n');
  });
});

describe('the requests a running session takes', () => {
  it.each([
    ['INT', 'INT'],
    ['SIGINT', 'INT'],
    ['SIGTERM', 'TERM'],
    ['KILL', 'KILL'],
    ['PIPE', 'PIPE'],
    ['SEGV', null],
    ['SIGSIGINT', null],
    ['int', null],
    ['', null],
  ] as const)('signal %j is %j', (name, signal) => {
    expect(sessionSignal(name)).toBe(signal);
  });

  it.each([
    [null, false],
    [{ cols: 0, rows: 24 }, false],
    [{ cols: 80, rows: 0 }, false],
    [{ cols: 80, rows: 24 }, true],
  ] as const)('size %j is sent: %s', (size, sent) => {
    expect(usableSize(size)).toBe(sent);
  });
});

describe('how a session that could not start ends', () => {
  it('tells the client the BerthError’s message and hint, refused with its code', () => {
    const err = new BerthError('VM_NOT_RUNNING', 'VM alice/dev is stopped.', 'Start it: berth vm start alice/dev');
    expect(startFailure(err, '\r\n')).toEqual({
      line: 'berth: VM alice/dev is stopped.\r\nStart it: berth vm start alice/dev',
      outcome: 'refused:VM_NOT_RUNNING',
      unexpected: false,
    });
  });

  it('tells the client nothing of any other error, which the operator sees', () => {
    expect(startFailure(new Error('socket hang up'), '\n')).toEqual({
      line: 'berth: the session could not be started; the operator can see why in the daemon log.',
      outcome: 'error',
      unexpected: true,
    });
  });
});

describe('how a session ends and what is reported', () => {
  it.each([
    [0, false, 'ok'],
    [3, false, 'ok'],
    [null, false, 'error'],
    [null, true, 'timeout'],
    [0, true, 'timeout'],
  ] as const)('exit code %j, timed out %s: %s', (exitCode, timedOut, outcome) => {
    expect(exitOutcome(exitCode, timedOut)).toBe(outcome);
  });

  it.each([
    [0, null, { code: 0 }],
    [143, null, { code: 143 }],
    [143, { name: 'TERM', coreDumped: false }, { signal: 'TERM', coreDumped: false }],
    [134, { name: 'ABRT', coreDumped: true }, { signal: 'ABRT', coreDumped: true }],
    [null, null, null],
  ] as const)('exit code %j, signal %j: the client gets %j', (exitCode, exitSignal, report) => {
    expect(exitReport(exitCode, exitSignal)).toEqual(report);
  });

  it.each([
    ['ok', false, 'ok'],
    ['disconnected', false, 'disconnected'],
    ['disconnected', true, 'timeout'],
    ['refused:VM_NOT_RUNNING', true, 'timeout'],
    ['killed', false, 'killed'],
  ] as const)('ended %s, timed out %s: audited %s', (outcome, timedOut, audited) => {
    expect(auditOutcome(outcome, timedOut)).toBe(audited);
  });

  it.each([
    ['ok', false],
    ['error', true],
    ['disconnected', true],
    ['killed', true],
    ['timeout', true],
  ] as const)('ended %s: its processes hung up %s', (outcome, hungUp) => {
    expect(hangsUp(outcome)).toBe(hungUp);
  });

  it.each([
    ['killed', 'the operator ended it', 'berth: the operator ended it'],
    ['killed', undefined, null],
    ['killed', '', null],
    ['disconnected', 'why', null],
  ] as const)('ended %s for %j: the client reads %j', (outcome, reason, line) => {
    expect(killedNote(outcome, reason)).toBe(line);
  });

  it('says how long the exit status was waited for, in whole seconds', () => {
    expect(exitTimeoutNote(10_000)).toBe("berth: the command's exit status did not come within 10 s; the session is ended.");
    expect(exitTimeoutNote(1500)).toContain('within 2 s');
  });
});
