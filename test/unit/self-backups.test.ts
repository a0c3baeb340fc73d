import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { checkSelfBackups, ownHome, SelfBackupLimit } from '../../src/services/backups/self-service.js';
import type { Home, State, User, Vm } from '../../src/state/schema.js';
import { backupDownloadPath, downloadCookieName, parseBackupDownload } from '../../src/values/web-paths.js';

// A person's own backups from chat: who may, which home is theirs, how many an hour; the
// download's path. The restic side is in test/integration (backups, backup-download, chat).

const id = (n: number) => n.toString(16).padStart(12, '0');
const user = (n: number, login: string, plan: string, status: User['status'] = 'allowed') =>
  ({ id: id(n), login, plan, status, role: 'user' }) as unknown as User;
const vm = (n: number, login: string, name: string, home: string) => ({ id: id(100 + n), user: login, name, home }) as unknown as Vm;
const home = (n: number, owner: string | null, login: string) => ({ id: id(200 + n), owner, login, vm: 'main' }) as unknown as Home;

function world(): State {
  return {
    plans: [{ name: 'saved', backupSelf: true }, { name: 'plain' }],
    users: [user(1, 'alice', 'saved'), user(2, 'bob', 'plain'), user(3, 'carol', 'saved', 'revoked')],
    vms: [vm(1, 'alice', 'main', id(201)), vm(2, 'bob', 'main', id(202)), vm(3, 'alice', 'old', id(203))],
    // Home 203 is mounted by alice's VM old but was given to her from someone else: not hers.
    homes: [home(1, id(1), 'alice'), home(2, id(2), 'bob'), home(3, id(9), 'alice')],
  } as unknown as State;
}

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof BerthError ? err.code : String(err);
  }
  return null;
};

describe('self-service backups', () => {
  it('are offered only to allowed users whose plan has backupSelf', () => {
    const s = world();
    expect(checkSelfBackups(s, id(1)).login).toBe('alice');
    expect(codeOf(() => checkSelfBackups(s, id(2)))).toBe('BACKUPS_NOT_OFFERED');
    expect(codeOf(() => checkSelfBackups(s, id(3)))).toBe('BACKUPS_NOT_OFFERED');
    expect(codeOf(() => checkSelfBackups(s, id(7)))).toBe('BACKUPS_NOT_OFFERED');
    expect(() => checkSelfBackups(s, id(2))).toThrow(
      expect.objectContaining({ hint: 'The operator can allow it: berth plan set plain --backup-self' }),
    );
  });

  it('choose the home the person’s own VM mounts, and only one the person owns', () => {
    const s = world();
    const alice = s.users[0] as User;
    const bob = s.users[1] as User;
    expect(ownHome(s, alice, s.vms[0] as Vm).id).toBe(id(201));
    // Bob naming alice's VM, or alice a VM whose home is someone else's: no home.
    expect(codeOf(() => ownHome(s, bob, s.vms[0] as Vm))).toBe('HOME_NOT_FOUND');
    expect(codeOf(() => ownHome(s, alice, s.vms[2] as Vm))).toBe('HOME_NOT_FOUND');
    // A login given to someone new (another id) does not carry the old owner's home.
    const heir = { ...alice, id: id(50) } as User;
    expect(codeOf(() => ownHome(s, heir, s.vms[0] as Vm))).toBe('HOME_NOT_FOUND');
  });

  it('are held to a few an hour per person, saying when the next one may be taken; a failed one is given back', async () => {
    const t = Date.parse('2026-01-01T10:00:00Z');
    const limit = new SelfBackupLimit(2, () => t);
    await limit.take('a');
    // This one failed: given back, it does not count.
    await limit.take('a');
    await limit.giveBack('a');
    await limit.take('a');
    await limit.take('b');
    const refused = await limit.take('a').then(
      () => null,
      (err: BerthError) => err,
    );
    expect(refused?.code).toBe('BACKUP_RATE');
    expect(refused?.message).toBe('You took 2 backups within the hour, the most allowed.');
    expect(refused?.hint).toMatch(/^Try again in (59m|1h)\S* \(after 1[01]:\d\d UTC\)/);
  });
});

describe('the download’s path and cookie', () => {
  it('names one home and one short snapshot id, nothing else', () => {
    expect(backupDownloadPath('0123456789ab', 'deadbeef')).toBe('/backups/0123456789ab/deadbeef.tar.gz');
    expect(parseBackupDownload('0123456789ab', 'deadbeef.tar.gz')).toEqual({ home: '0123456789ab', snapshot: 'deadbeef' });
    for (const [h, f] of [
      ['0123456789ab', 'deadbeef.tar'],
      ['0123456789ab', '../deadbeef.tar.gz'],
      ['0123456789AB', 'deadbeef.tar.gz'],
      ['0123456789ab', 'DEADBEEF.tar.gz'],
      ['01234', 'deadbeef.tar.gz'],
      ['0123456789ab', 'deadbeef00.tar.gz'],
    ] as const)
      expect(parseBackupDownload(h, f), `${h}/${f}`).toBeNull();
    expect(downloadCookieName('https://b.example', 'abc-123')).toBe('__Secure-berth-download-abc123');
    expect(downloadCookieName('http://127.0.0.1:1', 'abc')).toBe('berth-download-abc');
  });
});
