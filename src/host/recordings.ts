import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
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
async function firstLine(path: string, max = 64 * 1024): Promise<string> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await file.read(buffer, 0, max, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    return nl >= 0 ? text.slice(0, nl) : text;
  } finally {
    await file.close();
  }
}

/** Every recording, oldest first (by last write). */
export async function listRecordings(home: string): Promise<RecordingFile[]> {
  const names = await readdir(recordingsDir(home)).catch(() => [] as string[]);
  const out: RecordingFile[] = [];
  for (const name of names) {
    const id = name.endsWith('.cast') ? name.slice(0, -5) : '';
    if (!SESSION_ID.test(id)) continue;
    const path = join(recordingsDir(home), name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) continue;
    let header: CastHeader | null = null;
    try {
      const parsed = JSON.parse(await firstLine(path)) as CastHeader;
      header = parsed?.version === 2 ? parsed : null;
    } catch {
      header = null;
    }
    out.push({ id, path, bytes: info.size, modifiedAt: info.mtime, header });
  }
  return out.sort((a, b) => a.modifiedAt.getTime() - b.modifiedAt.getTime() || a.id.localeCompare(b.id));
}

/**
 * Deletes recordings older than `keepSeconds` (0: kept however old), then the oldest until all
 * together are within `maxTotalBytes`; recordings being written (`active`) are never deleted.
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
  let total = kept.reduce((n, r) => n + r.bytes, 0);
  for (const r of kept) {
    if (total <= limits.maxTotalBytes) break;
    if (limits.active?.has(r.id)) continue;
    await remove(r);
    total -= r.bytes;
  }
  return deleted;
}
