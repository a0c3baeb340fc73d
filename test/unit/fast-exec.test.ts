import { Flags, Parser } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import VmExec from '../../commands/vm/exec.js';
import { commandWords, plainExecArgs } from '../../src/cli/fast-exec.js';

/** What the oclif command gets from the same words: its VM, command (argv after the VM) and flags. */
async function oclifParse(argv: string[]) {
  const json = Flags.boolean({ description: 'json' });
  const out = await Parser.parse(argv, { args: VmExec.args, flags: { ...VmExec.flags, json }, strict: false });
  return {
    vm: out.args.vm,
    cmd: commandWords(argv) ?? (out.argv as string[]).slice(1),
    flags: { interactive: Boolean(out.flags.interactive), tty: Boolean(out.flags.tty) },
    json: Boolean(out.flags.json),
  };
}

describe('the fast path of berth vm exec (bin/run.js)', () => {
  const plain = [
    ['alice', '--', 'true'],
    ['alice/web', '--', 'ls', '-la'],
    ['alice', '-i', '--', 'sh', '-c', 'wc -l'],
    ['alice', '-it', '--', 'htop'],
    ['-t', 'alice', '--interactive', '--', 'bash', '-l'],
    ['alice', '--', 'echo', 'a', 'b', 'a'],
    ['alice', '--', 'echo', 'alice', '-i', '--', 'x'],
    ['alice', '--tty', '--', '--help'],
  ];
  it.each(plain)('reads %j as the oclif command does', async (...argv) => {
    const fast = plainExecArgs(argv);
    const oclif = await oclifParse(argv);
    expect(oclif.json).toBe(false);
    expect(fast).toEqual({ vm: oclif.vm, cmd: oclif.cmd, flags: oclif.flags });
  });

  it.each([
    [
      ['alice', '--', 'echo', 'a', 'b', 'a'],
      ['echo', 'a', 'b', 'a'],
    ],
    [
      ['alice', '--', 'echo', 'alice', '-i', '--', 'x'],
      ['echo', 'alice', '-i', '--', 'x'],
    ],
    [
      ['-t', 'alice', '--', 'printf', '%s %s', 'a', 'a'],
      ['printf', '%s %s', 'a', 'a'],
    ],
  ])('runs the words after -- of %j exactly as typed, repeated words in place', (argv, cmd) => {
    expect(plainExecArgs(argv)?.cmd).toEqual(cmd);
    expect(commandWords(argv)).toEqual(cmd);
  });

  const others = [
    ['alice', 'ls'],
    ['alice', '--'],
    ['alice', '--json', '--', 'true'],
    ['alice', '--help'],
    ['alice', '-h', '--', 'true'],
    ['alice', '-x', '--', 'true'],
    ['alice', 'bob', '--', 'true'],
    ['--', 'alice', 'true'],
    ['alice', '-i', '-i', '--', 'cat'],
    ['alice', '-it', '-t', '--', 'cat'],
    ['alice', '--tty=true', '--', 'cat'],
    ['', '--', 'true'],
  ];
  it.each(others)('leaves %j to the oclif command', (...argv) => {
    expect(plainExecArgs(argv)).toBeNull();
  });
});
