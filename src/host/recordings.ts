import { chmod, lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CastHeader } from '../domain/asciicast.js';

/**
 * Where session recordings live: `<berth home>/recordings/<session id>.cast`, the folder 0700 and
 * each file 0600 (only the operator reads them); a session id is berth's own, checked before it is
 * ever part of a path. Retention and the host's total cap delete the oldest first.
 */
export const RECORDINGS = 'recordings';
const SESSION_ID = /^[A-Za-z0-9_-]{6,64}$/;

export function recordingsDir(home: string): string {
  return join(home, RECORDINGS);
}

/** The file of a session's recording; an id that is not one of berth's is refused. */
export function recordingPath(home: string, sessionId: string): string {
  if (!SESSION_ID.test(sessionId)) throw new Error(`"${sessionId.slice(0, 80)}" is not a session id`);
  return join(recordingsDir(home), `${sessionId}.cast`);
}

export async function ensureRecordingsDir(home: string): Promise<string> {
  const dir = recordingsDir(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A folder made before (or by hand) with a looser mode is closed again.
  await chmod(dir, 0o700);
  return dir;
}

export interface RecordingFile {
  id: string;
  path: string;
  bytes: number;
  modifiedAt: Date;
  /** The header, or null when the file's first line is not one (cut short, being written). */
  header: CastHeader | null;
}

/** The first line of a file, read within `max` bytes. */
async function firstLine(path: string, max = 16 * 1024): Promise<string> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(max);
    const { bytesRead } = await file.read(buffer, 0, max, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    return nl >= 0 ? text.slice(0, nl) : text;
  } finally {
    await file.close();
  }
}

/** One recording by its id, read at its own path (nothing else listed), or null. */
export async function readRecordingFile(home: string, id: string): Promise<RecordingFile | null> {
  if (!SESSION_ID.test(id)) return null;
  const path = join(recordingsDir(home), `${id}.cast`);
  const info = await lstat(path).catch(() => null);
  // Only a file berth made: never one a link points at.
  if (!info?.isFile()) return null;
  let header: CastHeader | null = null;
  try {
    const parsed = JSON.parse(await firstLine(path)) as CastHeader;
    header = parsed?.version === 2 ? parsed : null;
  } catch {
    header = null;
  }
  return { id, path, bytes: info.size, modifiedAt: info.mtime, header };
}

/** Every recording, oldest first (by last write). */
export async function listRecordings(home: string): Promise<RecordingFile[]> {
  const names = await readdir(recordingsDir(home)).catch(() => [] as string[]);
  const out: RecordingFile[] = [];
  for (const name of names) {
    const id = name.endsWith('.cast') ? name.slice(0, -5) : '';
    const found = await readRecordingFile(home, id);
    if (found) out.push(found);
  }
  return out.sort((a, b) => a.modifiedAt.getTime() - b.modifiedAt.getTime() || a.id.localeCompare(b.id));
}

/**
 * Deletes recordings older than `keepSeconds` (0: kept however old), then, until all together are
 * within `maxTotalBytes`, the oldest of whoever holds the most; recordings being written
 * (`active`) are never deleted.
 * The ids deleted, oldest first.
 */
export async function pruneRecordings(
  home: string,
  limits: { maxTotalBytes: number; keepSeconds: number; active?: ReadonlySet<string>; now?: Date },
): Promise<string[]> {
  const now = (limits.now ?? new Date()).getTime();
  const all = await listRecordings(home);
  const deleted: string[] = [];
  const remove = async (r: RecordingFile) => {
    await unlink(r.path).catch(() => undefined);
    deleted.push(r.id);
  };
  const kept: RecordingFile[] = [];
  for (const r of all) {
    if (!limits.active?.has(r.id) && limits.keepSeconds > 0 && now - r.modifiedAt.getTime() > limits.keepSeconds * 1000) await remove(r);
    else kept.push(r);
  }
  // Past the total, the person holding the most goes first (their oldest recording): one user
  // making recordings fast can never push out everybody else's.
  let total = kept.reduce((n, r) => n + r.bytes, 0);
  const owner = (r: RecordingFile) => r.header?.berth?.userId ?? '';
  const held = new Map<string, number>();
  for (const r of kept) held.set(owner(r), (held.get(owner(r)) ?? 0) + r.bytes);
  const left = kept.filter((r) => !limits.active?.has(r.id));
  while (total > limits.maxTotalBytes) {
    const who = [...held.entries()].filter(([u]) => left.some((r) => owner(r) === u)).sort((a, b) => b[1] - a[1])[0]?.[0];
    if (who === undefined) break;
    const index = left.findIndex((r) => owner(r) === who);
    const [r] = left.splice(index, 1);
    if (!r) break;
    await remove(r);
    total -= r.bytes;
    held.set(who, (held.get(who) ?? 0) - r.bytes);
  }
  return deleted;
}
