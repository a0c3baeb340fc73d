import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { BIN, ROOT } from './helpers/cli.js';

/**
 * Images that test files build for themselves: kept for the whole run (the SSH tests' Debian
 * image is tagged by its sources, so that files share it), removed when the run ends.
 */
const TEST_IMAGES = [
  /^berth-vm-ssh-test:/,
  /^berth-vm-ssh-listen-test:/,
  /^berth-vm-agent-test:/,
  /^berth-vm-agent-test-base:/,
  /^berth-vm-hostile-agent-test:/,
  /^berth-vm-broken-test:/,
  /^berth-app-python-test:/,
  /^berth-app-node-test:/,
];

async function removeTestImages(): Promise<void> {
  // BERTH_TEST_KEEP_IMAGES=1 keeps them for the next run (a developer iterating on one file).
  if (process.env.BERTH_TEST_KEEP_IMAGES === '1') return;
  const docker = new Docker();
  // Twice: an image built on another test image (the hostile agent's, on the Debian one) holds its
  // parent until it is gone itself.
  for (let pass = 0; pass < 2; pass++) {
    const images = await docker.listImages().catch(() => []);
    for (const tag of images.flatMap((i) => i.RepoTags ?? [])) {
      if (!TEST_IMAGES.some((re) => re.test(tag))) continue;
      // Not forced: an image another run's VM still uses stays (Docker refuses with 409).
      await docker
        .getImage(tag)
        .remove()
        .catch(() => undefined);
    }
  }
}

/** Once per run: the busybox base and the minimal VM image every VM test uses; the teardown removes the test images. */
export default async function setup(): Promise<() => Promise<void>> {
  await execa('bash', [join(ROOT, 'scripts', 'base-images.sh'), 'busybox'], { stdio: 'inherit' });
  const home = await mkdtemp(join(tmpdir(), 'berth-setup-'));
  try {
    const env = { BERTH_HOME: join(home, 'h') };
    await execa('node', [BIN, 'init'], { env });
    await execa('node', [BIN, 'image', 'build', '--template', 'minimal'], { env, stderr: 'pipe', stdout: 'inherit' });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
  return removeTestImages;
}
