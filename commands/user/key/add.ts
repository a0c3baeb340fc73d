import { readFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { keyTable } from '../../../src/cli/render.js';
import { BerthError } from '../../../src/errors.js';
import { addKeys } from '../../../src/services/people/ssh-keys.js';
import { type KeyView, keyView } from '../../../src/views/user-view.js';

export default class UserKeyAdd extends BerthCommand {
  static override summary = 'Add SSH public keys to a user (ed25519, ECDSA, or RSA ≥ 2048 bits)';
  static override description = 'Give the key as arguments, or --file with one or more keys (authorized_keys form; "-" reads stdin).';
  static override strict = false;
  static override args = {
    login: Args.string({ description: 'login', required: true }),
    key: Args.string({ description: 'the public key line, e.g. "ssh-ed25519 AAAA… you@laptop"', ignoreStdin: true }),
  };
  static override flags = { file: Flags.string({ char: 'f', description: 'file with public keys ("-" for stdin)' }) };
  static override examples = [
    '<%= config.bin %> user key add alice --file ~/.ssh/id_ed25519.pub',
    '<%= config.bin %> user key add alice "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… alice@laptop"',
  ];

  async run(): Promise<KeyView[]> {
    const { args, argv, flags } = await this.parse(UserKeyAdd);
    const inline = (argv as string[]).slice(1).join(' ');
    if (Boolean(inline) === Boolean(flags.file)) {
      throw new BerthError(
        'USAGE',
        'Give the key either as an argument or with --file, not both or neither.',
        'See: berth user key add --help',
        true,
      );
    }
    const text = flags.file ? await readKeyFile(flags.file) : inline;
    const added = (await addKeys(this.store, args.login, text)).map(keyView);
    this.log(`Added ${added.length} key(s) to ${args.login}:\n${keyTable(added)}`);
    return added;
  }
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new BerthError(
      'FILE_UNREADABLE',
      `Cannot read ${path}: ${(err as Error).message}.`,
      'Check the path; public keys usually live in ~/.ssh/*.pub.',
      true,
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
