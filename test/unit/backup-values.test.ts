import { describe, expect, it } from 'vitest';
import { keepFlags, parseBackupSchedule, parseKeep, parseRepository } from '../../src/values/backup.js';

describe('backup values', () => {
  it('takes retentions as counts with units, in a canonical order, as restic forget flags', () => {
    expect(parseKeep('4w, 7D')).toBe('7d,4w');
    expect(parseKeep('3l')).toBe('3l');
    expect(keepFlags('24h,7d,12m,2y')).toEqual(['--keep-hourly', '24', '--keep-daily', '7', '--keep-monthly', '12', '--keep-yearly', '2']);
    for (const bad of ['', '7', 'd7', '0d', '7d,7d', '7x', '99999d', '7d;rm -rf /'])
      expect(() => parseKeep(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_KEEP' }));
  });

  it('takes schedules off, daily, hourly', () => {
    expect(parseBackupSchedule(' Daily ')).toBe('daily');
    expect(() => parseBackupSchedule('weekly')).toThrow(expect.objectContaining({ code: 'INVALID_BACKUP_SCHEDULE' }));
  });

  it('takes an absolute path or a restic URL; refuses passwords in URLs, relative paths and backends it cannot run', () => {
    expect(parseRepository('/srv/berth-backups/')).toEqual({ kind: 'local', path: '/srv/berth-backups' });
    expect(parseRepository('s3:s3.amazonaws.com/bucket')).toEqual({ kind: 'remote', url: 's3:s3.amazonaws.com/bucket' });
    expect(parseRepository('rest:https://backup.example.com:8000/berth').kind).toBe('remote');
    for (const bad of [
      'backups',
      '../x',
      '/srv/../etc',
      'rest:https://user:secret@host:8000/',
      'sftp:u@h:/srv',
      'rclone:remote:path',
      'ftp://x',
      '',
    ])
      expect(() => parseRepository(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_REPOSITORY' }));
  });
});
