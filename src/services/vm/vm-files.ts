import { type Actor, OPERATOR } from '../../domain/actor.js';
import { BerthError, invalidInput } from '../../errors.js';
import { printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';
import { runInVm } from './vm-exec.js';

/*
 * Files in and out of a VM go through commands run as the VM's user (never root, never
 * a host path): what the user cannot read or write inside their VM, they cannot
 * upload or download either. Paths are argv, never spliced into a shell line.
 */

const UPLOAD = 'mkdir -p -- "$1" && cat > "$1/$2" && cd -- "$1" && pwd';
const PROBE =
  'if [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then if [ -r "$1" ]; then echo file; else echo unreadable; fi; elif [ -e "$1" ] || [ -L "$1" ]; then echo special; else echo missing; fi';
const DIRECTORY = 'cd -- "$1" && tar -czf - .';

function checkPath(input: string, what: string): string {
  if (input.length === 0 || input.length > 1024 || input.includes('\0') || /[\r\n]/.test(input)) {
    throw invalidInput(
      'INVALID_PATH',
      `"${printable(input.slice(0, 80))}" is not a valid ${what}.`,
      'Give a path in your VM, e.g. projects/notes.txt',
    );
  }
  return input;
}

export function checkFileName(input: string): string {
  const name = input.trim();
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || /[\r\n]/.test(name) || name.length > 255) {
    throw invalidInput(
      'INVALID_FILE_NAME',
      `"${printable(name.slice(0, 80))}" is not a usable file name.`,
      'Rename the file and send it again.',
    );
  }
  return name;
}

function failure(stderr: Buffer, fallback: string): string {
  const text = stderr.toString('utf8').trim().split('\n').slice(-1)[0];
  return text ? printable(text.slice(0, 300)) : fallback;
}

/** Writes `data` as DIR/NAME in the VM (DIR relative to the user's home, made if missing). */
export async function uploadToVm(
  ctx: Berth,
  ref: string,
  file: { dir?: string; name: string; data: Buffer },
  actor: Actor = OPERATOR,
): Promise<{ path: string; bytes: number }> {
  const dir = checkPath(file.dir?.trim() || '.', 'directory');
  const name = checkFileName(file.name);
  const run = await runInVm(
    ctx,
    ref,
    ['/bin/sh', '-c', UPLOAD, 'berth-upload', dir, name],
    { stdin: file.data, timeoutSeconds: 300 },
    actor,
  );
  if (run.exitCode !== 0) {
    throw new BerthError(
      'UPLOAD_FAILED',
      `Could not write ${name}: ${failure(run.stderr, `exit code ${run.exitCode}`)}.`,
      'Check the directory exists and is yours.',
    );
  }
  const where = run.stdout.toString('utf8').trim();
  return { path: `${where}/${name}`, bytes: file.data.length };
}

export interface Download {
  name: string;
  data: Buffer;
  /** A directory comes as a .tar.gz of its contents. */
  kind: 'file' | 'directory';
}

/** Reads a file (or a directory as .tar.gz) from the VM, at most `maxBytes`. */
export async function downloadFromVm(ctx: Berth, ref: string, path: string, maxBytes: number, actor: Actor = OPERATOR): Promise<Download> {
  const target = checkPath(path.trim(), 'path');
  const probe = await runInVm(ctx, ref, ['/bin/sh', '-c', PROBE, 'berth-probe', target], { timeoutSeconds: 30 }, actor);
  const kind = probe.stdout.toString('utf8').trim();
  const shown = printable(target.slice(0, 200));
  if (kind === 'missing')
    throw new BerthError('PATH_NOT_FOUND', `There is no ${shown} in your VM.`, 'Paths are relative to your home; check with /exec ls');
  if (kind === 'unreadable')
    throw new BerthError(
      'PERMISSION_DENIED',
      `You may not read ${shown} in your VM.`,
      'Only files your VM user can read can be downloaded.',
    );
  if (kind !== 'file' && kind !== 'dir')
    throw new BerthError('NOT_A_FILE', `${shown} is not a regular file or directory.`, 'Download a file or a directory.');
  const cmd = kind === 'dir' ? ['/bin/sh', '-c', DIRECTORY, 'berth-download', target] : ['cat', '--', target];
  const run = await runInVm(ctx, ref, cmd, { timeoutSeconds: 300, maxBytes, stopAtLimit: true }, actor);
  const base = target.replace(/\/+$/, '').split('/').pop() || 'home';
  const name = kind === 'dir' ? `${base === '.' || base === '..' || base === '~' ? 'home' : base}.tar.gz` : base;
  if (run.truncated) {
    throw new BerthError(
      'FILE_TOO_LARGE',
      `${shown} is larger than ${Math.floor(maxBytes / (1024 * 1024))} MB, the most the bot can send.`,
      'Use scp or sftp through the SSH gateway (/ssh), or a self-hosted Bot API server for larger files.',
    );
  }
  if (run.exitCode !== 0) {
    throw new BerthError(
      'DOWNLOAD_FAILED',
      `Could not read ${shown}: ${failure(run.stderr, `exit code ${run.exitCode}`)}.`,
      'Check the path with /exec ls -la',
    );
  }
  return { name: checkFileName(name), data: run.stdout, kind: kind === 'dir' ? 'directory' : 'file' };
}
