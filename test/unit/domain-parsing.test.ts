import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { formatDuration, parseDuration } from '../../src/values/durations.js';
import { checkImageRef } from '../../src/values/image-ref.js';
import { checkListenAddress } from '../../src/values/listen-address.js';
import { checkLogin, checkPlanName } from '../../src/values/names.js';
import { parseCpus, parseGpus } from '../../src/values/numbers.js';
import { formatSize, parseSize } from '../../src/values/sizes.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).usage).toBe(true);
    expect((err as BerthError).hint.length).toBeGreaterThan(5);
    return (err as BerthError).code;
  }
  throw new Error('expected a refusal');
}

describe('sizes', () => {
  it('reads the sizes Docker users write', () => {
    expect(parseSize('512m')).toBe(512 * 1024 ** 2);
    expect(parseSize('4g')).toBe(4 * 1024 ** 3);
    expect(parseSize('4G')).toBe(4 * 1024 ** 3);
    expect(parseSize('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('1t')).toBe(1024 ** 4);
  });
  it.each(['lots', '-1g', '99999999t', '', '4', '1m', '0g', '1e3g', '4 g g', '0x10m'])('refuses %j', (input) => {
    expect(code(() => parseSize(input))).toBe('INVALID_SIZE');
  });
  it('formats back to what it parses', () => {
    for (const text of ['512m', '1g', '1.5g', '16g', '6m', '1t', '7000k']) expect(formatSize(parseSize(text))).toBe(text);
    expect(parseSize(formatSize(parseSize('1.33g')))).toBe(parseSize('1.33g'));
  });
});

describe('durations', () => {
  it('reads and writes durations', () => {
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('off')).toBe(0);
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0');
  });
  it.each(['soon', '-5m', '5', '10y', '400d', 'm'])('refuses %j', (input) => {
    expect(code(() => parseDuration(input))).toBe('INVALID_DURATION');
  });
});

describe('names', () => {
  it('accepts logins of the documented shape', () => {
    for (const login of ['al', 'alice', 'bob-2', `a${'b'.repeat(31)}`]) expect(checkLogin(login)).toBe(login);
  });
  it.each(["Robert'; rm -rf /", '../x', 'a'.repeat(200), 'ålice', 'Alice', 'a', '9lives', 'bob_', 'a\nb', ''])(
    'refuses login %j',
    (input) => {
      expect(code(() => checkLogin(input))).toBe('INVALID_LOGIN');
    },
  );
  it('refuses system account names', () => {
    expect(code(() => checkLogin('root'))).toBe('RESERVED_LOGIN');
    expect(code(() => checkLogin('ubuntu'))).toBe('RESERVED_LOGIN');
  });
  it('checks plan names', () => {
    expect(checkPlanName('gpu-lab')).toBe('gpu-lab');
    expect(code(() => checkPlanName('../plans'))).toBe('INVALID_PLAN_NAME');
  });
});

describe('numbers', () => {
  it('reads fractional CPUs and GPU counts', () => {
    expect(parseCpus('0.5')).toBe(0.5);
    expect(parseCpus(8)).toBe(8);
    expect(parseGpus('all')).toBe('all');
    expect(parseGpus('2')).toBe(2);
    expect(parseGpus('0')).toBe(0);
  });
  it.each(['0', '-1', 'many', '0.001', '2000', 'NaN', 'Infinity', '1e2'])('refuses CPUs %j', (input) => {
    expect(code(() => parseCpus(input))).toBe('INVALID_CPUS');
  });
  it.each(['-1', 'every', '1.5', '999'])('refuses GPUs %j', (input) => {
    expect(code(() => parseGpus(input))).toBe('INVALID_NUMBER');
  });
});

describe('image references and listen addresses', () => {
  it('accepts real references', () => {
    for (const ref of ['berth-vm:latest', 'ubuntu', 'registry.example.com:5000/team/vm:1.2', `vm@sha256:${'a'.repeat(64)}`]) {
      expect(checkImageRef(ref)).toBe(ref);
    }
  });
  it.each(['UPPER:case', 'vm:lat est', 'vm;rm -rf /', '$(id)', 'a//b', ''])('refuses image %j', (input) => {
    expect(code(() => checkImageRef(input))).toBe('INVALID_IMAGE');
  });
  it('checks listen addresses', () => {
    expect(checkListenAddress('0.0.0.0:2222')).toBe('0.0.0.0:2222');
    expect(checkListenAddress('[::]:22')).toBe('[::]:22');
    for (const bad of ['2222', 'host:0', 'host:70000', ':22', 'a b:22'])
      expect(code(() => checkListenAddress(bad))).toBe('INVALID_ADDRESS');
  });
});

describe('terminal-safe text', () => {
  it('writes control characters, DEL, C1 and bidi or zero-width marks as visible escapes; keeps the rest', async () => {
    const { terminalSafe } = await import('../../src/values/names.js');
    expect(terminalSafe('plain text, ünïcode ✓ and a\ttab')).toBe('plain text, ünïcode ✓ and a\ttab');
    expect(terminalSafe('\u001b]0;x\u0007\u001b[2J')).toBe('\\x1b]0;x\\x07\\x1b[2J');
    expect(terminalSafe('a\nb\rc\u007f\u0085\u009b')).toBe('a\\x0ab\\x0dc\\x7f\\x85\\x9b');
    expect(terminalSafe('\u202egnp.exe\u2066\u200b\ufeff')).toBe('\\u202egnp.exe\\u2066\\u200b\\ufeff');
  });
});
