import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT } from './helpers/cli.js';

/** Once per run: the busybox base and the minimal VM image every VM test uses. */
export default async function setup(): Promise<void> {
  await execa('bash', [join(ROOT, 'scripts', 'base-images.sh'), 'busybox'], { stdio: 'inherit' });
  const home = await mkdtemp(join(tmpdir(), 'berth-setup-'));
  try {
    const env = { BERTH_HOME: join(home, 'h') };
    await execa('node', [BIN, 'init'], { env });
    await execa('node', [BIN, 'image', 'build', '--template', 'minimal'], { env, stderr: 'pipe', stdout: 'inherit' });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
