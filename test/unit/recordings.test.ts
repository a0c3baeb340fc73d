import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { castHeader } from '../../src/domain/asciicast.js';
import { ensureRecordingsDir, listRecordings, pruneRecordings, recordingPath } from '../../src/host/recordings.js';

let home = '';
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'berth-rec-'));
});
afterEach(() => rm(home, { recursive: true, force: true }));

const DAY = 86_400_000;
const now = new Date(Date.UTC(2026, 5, 1));

async function recording(id: string, bytes: number, ageMs: number, userId?: string): Promise<void> {
  const path = recordingPath(home, id);
  const header = castHeader({
    width: 80,
    height: 24,
    timestamp: 0,
    ...(userId ? { berth: { session: id, user: userId, userId, vm: `${userId}/main`, via: 'ssh', input: false } } : {}),
  });
  await writeFile(path, `${header}\n${'x'.repeat(Math.max(0, bytes - header.length - 1))}`, { mode: 0o600 });
  const at = new Date(now.getTime() - ageMs);
  await utimes(path, at, at);
}

describe('session recordings on disk', () => {
  it('live in a 0700 folder, named by session ids only', async () => {
    const dir = await ensureRecordingsDir(home);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const bad of ['../etc/passwd', 'a/b', '', 'x'.repeat(65), 'short', 'dots.cast'])
      expect(() => recordingPath(home, bad), bad).toThrow(/not a session id/);
    expect(recordingPath(home, 'abcdef123')).toBe(join(dir, 'abcdef123.cast'));
  });

  it('are listed oldest first with their headers; other files are ignored', async () => {
    await ensureRecordingsDir(home);
    await recording('newer-one', 500, DAY);
    await recording('older-one', 500, 3 * DAY);
    await writeFile(join(home, 'recordings', 'notes.txt'), 'x');
    await writeFile(join(home, 'recordings', 'broken1.cast'), 'not json');
    const list = await listRecordings(home);
    // broken1 was written just now (the others' times were set into the past): newest.
    expect(list.map((r) => r.id)).toEqual(['older-one', 'newer-one', 'broken1']);
    expect(list.find((r) => r.id === 'older-one')?.header).toMatchObject({ version: 2, width: 80 });
    expect(list.find((r) => r.id === 'broken1')?.header).toBeNull();
  });

  it('are deleted past their retention, then oldest first past the total cap, never while being written', async () => {
    await ensureRecordingsDir(home);
    await recording('ancient', 1000, 40 * DAY);
    await recording('old-big', 3000, 10 * DAY);
    await recording('middle', 2000, 5 * DAY);
    await recording('active', 4000, 20 * DAY);
    await recording('recent', 1000, DAY);
    const deleted = await pruneRecordings(home, { maxTotalBytes: 8000, keepSeconds: 30 * 86400, active: new Set(['active']), now });
    expect(deleted).toEqual(['ancient', 'old-big']);
    expect((await listRecordings(home)).map((r) => r.id).sort()).toEqual(['active', 'middle', 'recent']);
    expect(await pruneRecordings(home, { maxTotalBytes: 1 << 30, keepSeconds: 0, now })).toEqual([]);
  });

  it('past the total cap, deletes from whoever holds the most: one user cannot push out the others', async () => {
    await ensureRecordingsDir(home);
    // bob's two recordings are the oldest; mallory made many since.
    await recording('bob-one-1', 1000, 10 * DAY, 'bbbbbbbbbbbb');
    await recording('bob-two-2', 1000, 9 * DAY, 'bbbbbbbbbbbb');
    for (let i = 0; i < 6; i++) await recording(`mal-${i}-xx`, 1000, (8 - i) * DAY, 'mmmmmmmmmmmm');
    const deleted = await pruneRecordings(home, { maxTotalBytes: 5000, keepSeconds: 0, now });
    expect(deleted).toEqual(['mal-0-xx', 'mal-1-xx', 'mal-2-xx']);
    expect((await listRecordings(home)).map((r) => r.id)).toContain('bob-one-1');
  });

  it('a folder with a looser mode is closed again', async () => {
    const dir = await ensureRecordingsDir(home);
    const { chmod } = await import('node:fs/promises');
    await chmod(dir, 0o755);
    await ensureRecordingsDir(home);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });
});
