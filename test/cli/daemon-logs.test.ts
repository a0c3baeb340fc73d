import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, tempHome } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';

/** What a hostile user can get into the daemon's log: their name or command, with C1 (CSI), bidi and zero-width marks. */
const HOSTILE = 'mallory\u009b2J\u202egnp.exe\u200b\u007f';
/** A log line as pino writes it: JSON.stringify escapes C0 controls, but not DEL, C1 or Unicode marks. */
const line = (msg: string) => `${JSON.stringify({ level: 30, time: 1, msg, user: HOSTILE })}\n`;
const RAW = /[\u007f-\u009f\u202a-\u202e\u200b-\u200f]/;

describe('berth daemon logs', () => {
  let home = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let log = '';

  beforeAll(async () => {
    ({ home, cleanup } = await tempHome());
    await mkdir(join(home, 'logs'), { recursive: true });
    log = join(home, 'logs', 'daemon.log');
    await writeFile(log, line('ssh login refused') + line('web link refused'));
  });
  afterAll(() => cleanup());

  it('shows control, C1 and bidi characters from users’ input as visible escapes; each line is still the same JSON', async () => {
    const run = await berth(home, ['daemon', 'logs', '-n', '5']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(run.stdout).not.toMatch(RAW);
    expect(lines[0]).toContain('mallory\\u009b2J\\u202egnp.exe\\u200b\\u007f');
    expect(JSON.parse(lines[0] ?? '').user).toBe(HOSTILE);
  });

  it('does the same for lines it follows (-f), across a line written in two parts', async () => {
    const follow = execa('node', [BIN, 'daemon', 'logs', '-f', '-n', '1'], { env: { BERTH_HOME: home, NO_COLOR: '1' }, reject: false });
    let out = '';
    follow.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    try {
      // Following once the last line is shown.
      await waitFor('the last line', async () => out.includes('web link refused'), 15_000);
      out = '';
      const next = line('agent run');
      const cut = Buffer.from(next).indexOf(0x9b) - 1; // inside the two bytes of U+009B
      await appendFile(log, Buffer.from(next).subarray(0, cut));
      await new Promise((r) => setTimeout(r, 600));
      await appendFile(log, Buffer.from(next).subarray(cut));
      const shown = await waitFor('the followed line', async () => (out.includes('agent run') ? out : null), 15_000);
      expect(shown).not.toMatch(RAW);
      expect(JSON.parse(shown.trim()).user).toBe(HOSTILE);
    } finally {
      follow.kill();
    }
  });
});
