import { createGunzip } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import yauzl from 'yauzl';
import { type ArchiveEntry, type ArchiveLimits, ArchiveRefusal, ArchiveRules, type EntryKind } from '../domain/archive-paths.js';
import { BerthError } from '../errors.js';

/** A link's target is read into memory: at most this long. */
const MAX_LINK_TARGET = 4096;

export type ArchiveFormat = 'tar.gz' | 'tar' | 'zip';

/** The archive's format from its first bytes (the name a user gave it is not trusted). */
export function archiveFormat(data: Buffer): ArchiveFormat | null {
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) return 'tar.gz';
  if (data.length >= 4 && data.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (data.length >= 262 && data.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return null;
}

export interface CleanArchive {
  /** A plain tar holding only what passed, with clean names, owned by `uid`. */
  tar: Buffer;
  entries: number;
  bytes: number;
  /** The regular files' clean paths, in the archive's order. */
  files: string[];
}

interface Out {
  name: string;
  kind: Exclude<EntryKind, 'other'>;
  data?: Buffer;
  target?: string;
  executable?: boolean;
}

async function readAll(stream: AsyncIterable<unknown>, onChunk: (n: number) => void, max = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new Error('too long');
    onChunk(b.length);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

const tarKind = (type: string | null | undefined): EntryKind =>
  type === 'file' || type === 'contiguous-file'
    ? 'file'
    : type === 'directory'
      ? 'directory'
      : type === 'symlink'
        ? 'symlink'
        : type === 'link'
          ? 'hardlink'
          : 'other';

/** Every entry of a tar (gzipped or not), checked by `rules` as it comes. */
async function readTar(data: Buffer, gzipped: boolean, rules: ArchiveRules): Promise<Out[]> {
  const parser = extract();
  const source = gzipped ? createGunzip() : null;
  const out: Out[] = [];
  if (source) {
    source.on('error', (err) => parser.destroy(err));
    source.pipe(parser);
    source.end(data);
  } else parser.end(data);
  try {
    for await (const entry of parser) {
      const { header } = entry;
      // PAX and GNU long-name headers are read by tar-stream itself; what is left is the entry.
      const checked: ArchiveEntry = { name: header.name, kind: tarKind(header.type), target: header.linkname ?? undefined };
      const name = rules.check(checked);
      const data = checked.kind === 'file' ? await readAll(entry, (n) => rules.addBytes(header.name, n)) : undefined;
      if (checked.kind !== 'file') entry.resume();
      if (name === '' || checked.kind === 'other') continue;
      out.push({
        name,
        kind: checked.kind,
        ...(data ? { data } : {}),
        ...(checked.target !== undefined ? { target: checked.target } : {}),
        executable: ((header.mode ?? 0) & 0o111) !== 0,
      });
    }
  } finally {
    source?.destroy();
    parser.destroy();
  }
  return out;
}

/** Every entry of a zip, checked by `rules` as it comes; sizes counted as the data inflates. */
async function readZip(data: Buffer, rules: ArchiveRules): Promise<Out[]> {
  const zip = await yauzl.fromBufferPromise(data, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true });
  const out: Out[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const mode = (entry.externalFileAttributes >>> 16) & 0o177777;
      const type = mode & 0o170000;
      const kind: EntryKind = entry.fileName.endsWith('/')
        ? 'directory'
        : type === 0o120000
          ? 'symlink'
          : type === 0 || type === 0o100000
            ? 'file'
            : type === 0o040000
              ? 'directory'
              : 'other';
      let target: string | undefined;
      if (kind === 'symlink') {
        const stream = await zip.openReadStreamPromise(entry);
        target = (
          await readAll(stream, () => undefined, MAX_LINK_TARGET).catch(() => {
            throw new ArchiveRefusal(entry.fileName, 'the link is too long');
          })
        ).toString('utf8');
      }
      const name = rules.check({ name: entry.fileName, kind, ...(target !== undefined ? { target } : {}) });
      if (name === '' || kind === 'other') continue;
      const content =
        kind === 'file' ? await readAll(await zip.openReadStreamPromise(entry), (n) => rules.addBytes(entry.fileName, n)) : undefined;
      out.push({
        name,
        kind,
        ...(content ? { data: content } : {}),
        ...(target !== undefined ? { target } : {}),
        executable: (mode & 0o111) !== 0,
      });
    }
  } finally {
    zip.close();
  }
  return out;
}

/**
 * A user's archive (tar.gz, tar or zip, told apart by its first bytes) as a clean tar: every
 * entry checked before anything is made of it (see ArchiveRules: nothing outside its top
 * directory, no link out, no devices, within the entry and byte limits counted while inflating),
 * names made relative, owned by `uid`, modes 0644/0755. Refused as a whole, with the first bad
 * entry named: nothing partial comes out.
 */
export async function cleanArchive(data: Buffer, limits: ArchiveLimits, uid = 1000): Promise<CleanArchive> {
  const format = archiveFormat(data);
  if (!format) {
    throw new BerthError('ARCHIVE_UNREADABLE', 'That is not a tar.gz, tar or zip archive.', 'Send the folder as a .tar.gz or a .zip.');
  }
  const rules = new ArchiveRules(limits);
  let entries: Out[];
  try {
    entries = format === 'zip' ? await readZip(data, rules) : await readTar(data, format === 'tar.gz', rules);
  } catch (err) {
    if (err instanceof ArchiveRefusal) {
      throw new BerthError(
        'ARCHIVE_UNSAFE',
        `The archive was refused, nothing was unpacked: ${err.message}.`,
        'Make an archive of the folder itself, with no links out of it, and send it again.',
      );
    }
    if (/invalid relative path|absolute path/i.test((err as Error).message)) {
      throw new BerthError(
        'ARCHIVE_UNSAFE',
        `The archive was refused, nothing was unpacked: ${(err as Error).message}.`,
        'Make an archive of the folder itself, with relative paths, and send it again.',
      );
    }
    throw new BerthError(
      'ARCHIVE_UNREADABLE',
      `The ${format} archive could not be read: ${(err as Error).message}.`,
      'Make the archive again and send it.',
    );
  }
  const packer = pack();
  const chunks: Buffer[] = [];
  packer.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    packer.on('end', resolve);
    packer.on('error', reject);
  });
  const owner = { uid, gid: uid, uname: '', gname: '' };
  for (const e of entries) {
    if (e.kind === 'file')
      packer.entry({ name: e.name, type: 'file', mode: e.executable ? 0o755 : 0o644, ...owner }, e.data ?? Buffer.alloc(0));
    else if (e.kind === 'directory') packer.entry({ name: e.name, type: 'directory', mode: 0o755, ...owner });
    else if (e.kind === 'symlink') packer.entry({ name: e.name, type: 'symlink', linkname: e.target ?? '', mode: 0o777, ...owner });
    else packer.entry({ name: e.name, type: 'link', linkname: e.target ?? '', ...owner });
  }
  packer.finalize();
  await done;
  const total = rules.total;
  const files = entries.filter((e) => e.kind === 'file').map((e) => e.name);
  return { tar: Buffer.concat(chunks), entries: total.entries, bytes: total.bytes, files };
}
