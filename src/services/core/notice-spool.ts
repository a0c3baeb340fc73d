import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Notice, Notifier } from './notify.js';

/*
 * Notices raised outside the daemon (`berth maintenance on`, a cron `maintenance tick`)
 * wait in $BERTH_HOME/outbox/ as one file each; the daemon delivers and deletes them.
 * Without a daemon they expire unread.
 */

const MAX_WAITING = 1000;
const MAX_AGE_MS = 24 * 60 * 60 * 1000;

export function outboxDir(home: string): string {
  return join(home, 'outbox');
}

export function spoolNotifier(home: string): Notifier {
  return {
    send: async (notice) => {
      const dir = outboxDir(home);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if ((await readdir(dir)).length >= MAX_WAITING) return;
      const { randomBytes } = process.getBuiltinModule('node:crypto');
      const name = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}.json`;
      const temp = join(dir, `.${name}.tmp`);
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify({ at: new Date().toISOString(), notice }));
      } finally {
        await handle.close();
      }
      await rename(temp, join(dir, name));
    },
  };
}

/** Hands every waiting notice, oldest first, to `notifier`, deleting each once handed over. */
export async function drainOutbox(home: string, notifier: Notifier): Promise<number> {
  const dir = outboxDir(home);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  let delivered = 0;
  for (const name of names) {
    const path = join(dir, name);
    let entry: { at: string; notice: Notice } | null = null;
    try {
      entry = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      entry = null;
    }
    await rm(path, { force: true });
    if (!entry?.notice || Date.now() - Date.parse(entry.at) > MAX_AGE_MS) continue;
    await notifier.send(entry.notice);
    delivered++;
  }
  return delivered;
}
