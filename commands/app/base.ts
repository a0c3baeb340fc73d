import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { progressLines } from '../../src/cli/progress.js';
import { buildAppBase } from '../../src/services/apps/app-base.js';
import type { BuildResult } from '../../src/services/vm/images.js';
import { APP_RUNTIMES } from '../../src/state/schema.js';

export default class AppBase extends BerthCommand {
  static override summary = 'Build the images apps are built on (Python and Node.js)';
  static override description =
    'Apps are built without Dockerfiles: their installs run in a hardened container of one of these images, as uid 1000, and are committed. ' +
    'The images go under apps.python-image and apps.node-image; only templates/apps/RUNTIME and the pinned Node.js and npm are sent to Docker.';
  static override flags = {
    runtime: Flags.string({ description: 'build only this one (default: both)', options: [...APP_RUNTIMES] }),
    base: Flags.string({ description: 'base image (build arg BASE_IMAGE, default debian:bookworm-slim), e.g. berth-base:bookworm' }),
  };
  static override examples = [
    '<%= config.bin %> app base',
    '<%= config.bin %> app base --base berth-base:bookworm',
    '<%= config.bin %> app base --runtime python',
  ];

  async run(): Promise<BuildResult[]> {
    const { flags } = await this.parse(AppBase);
    const runtimes = flags.runtime ? APP_RUNTIMES.filter((r) => r === flags.runtime) : [...APP_RUNTIMES];
    const results: BuildResult[] = [];
    for (const runtime of runtimes) {
      const progress = progressLines(this.jsonEnabled());
      this.note(`Building the ${runtime} app base${flags.base ? ` on ${flags.base}` : ''}…`);
      const result = await buildAppBase(this.berth, runtime, { base: flags.base }, progress.line);
      progress.done();
      this.log(`Built ${result.tag} (${(result.sizeBytes / 1024 ** 2).toFixed(0)} MB) in ${result.seconds} s.`);
      results.push(result);
    }
    return results;
  }
}
