/**
 * What an archive a user sends may hold, decided entry by entry before anything is written:
 * relative paths inside one directory, regular files, directories, and links that stay inside it.
 * Pure: the reading and writing of archives is `src/docker/archive.ts`.
 */

import { printable } from '../values/names.js';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface ArchiveEntry {
  /** The name as the archive gives it. */
  name: string;
  kind: EntryKind;
  /** A link's target, as the archive gives it. */
  target?: string;
}

export interface ArchiveLimits {
  /** Entries of any kind. */
  maxEntries: number;
  /** Bytes of all files together, counted as they are read (what a header says is not trusted). */
  maxBytes: number;
}

/** Why an entry is refused: the entry's name (made printable) and the reason. */
export class ArchiveRefusal extends Error {
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`${reason}: ${entry}`);
  }
}

const MAX_PATH = 1024;
const MAX_COMPONENT = 255;

/** Shown in messages: control characters escaped, long names cut. */
export const printableName = (name: string) => printable(name, 200);

/**
 * An entry name as a clean relative path (`a/b/c`), "" for the top directory itself, or a
 * refusal: absolute paths, drive letters, backslashes, `..`, control characters, overlong names.
 */
export function cleanPath(name: string): string {
  const refuse = (reason: string): never => {
    throw new ArchiveRefusal(printableName(name), reason);
  };
  if (name.length > MAX_PATH) refuse('the name is too long');
  if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) refuse('the name holds control characters');
  if (name.includes('\\')) refuse('the name holds a backslash');
  if (name.startsWith('/')) refuse('the path is absolute');
  if (/^[A-Za-z]:/.test(name)) refuse('the path names a drive');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  for (const part of parts) {
    if (part === '..') refuse('the path climbs out with ".."');
    if (part.length > MAX_COMPONENT) refuse('a part of the name is too long');
  }
  return parts.join('/');
}

/** Where a symlink at `path` pointing at `target` lands, relative to the top; null when it leaves it. */
export function linkLands(path: string, target: string): string | null {
  if (target.startsWith('/') || target.includes('\\') || target === '') return null;
  const stack = path.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return null;
      stack.pop();
    } else stack.push(part);
  }
  return stack.join('/');
}

/**
 * The entries of one archive, checked in order: each path once, never through a symlink named
 * earlier (a link could make a later path land elsewhere), links inside the top directory only,
 * hard links only to files already in it, nothing but files, directories and links, and at most
 * `maxEntries` of them. Bytes are counted by the reader with `addBytes`.
 */
export class ArchiveRules {
  private readonly seen = new Map<string, EntryKind>();
  private bytes = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  /** The entry's clean path ("" for the top directory), or an ArchiveRefusal. */
  check(entry: ArchiveEntry): string {
    const path = cleanPath(entry.name);
    const refuse = (reason: string): never => {
      throw new ArchiveRefusal(printableName(entry.name), reason);
    };
    if (path === '') {
      if (entry.kind !== 'directory') refuse('the entry has no name');
      return path;
    }
    if (entry.kind === 'other') refuse('only files, folders and links may be in it (no devices, pipes or sockets)');
    if (this.seen.size >= this.limits.maxEntries) refuse(`the archive holds more than ${this.limits.maxEntries} entries`);
    if (this.seen.has(path)) {
      // A folder named twice (zip and tar both do it) is harmless; anything else would replace what is there.
      if (entry.kind === 'directory' && this.seen.get(path) === 'directory') return path;
      refuse('the path is in the archive twice');
    }
    const parts = path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      const kind = this.seen.get(prefix);
      if (kind !== undefined && kind !== 'directory')
        refuse(`the path goes through ${kind === 'symlink' ? 'a link' : 'a file'} (${prefix})`);
    }
    if (entry.kind === 'symlink' && linkLands(path, entry.target ?? '') === null) refuse('the link points outside the archive');
    if (entry.kind === 'hardlink') {
      const target = cleanPath(entry.target ?? '');
      if (this.seen.get(target) !== 'file') refuse('the hard link does not point at a file earlier in the archive');
    }
    this.seen.set(path, entry.kind);
    return path;
  }

  /** Counts bytes read from the archive's files; past the limit, a refusal (a zip bomb stops here). */
  addBytes(entry: string, count: number): void {
    this.bytes += count;
    if (this.bytes > this.limits.maxBytes) {
      throw new ArchiveRefusal(printableName(entry), `the files unpack to more than ${this.limits.maxBytes} bytes`);
    }
  }

  get total(): { entries: number; bytes: number } {
    return { entries: this.seen.size, bytes: this.bytes };
  }
}
