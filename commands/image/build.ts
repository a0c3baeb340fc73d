import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { progressLines } from '../../src/cli/progress.js';
import { type BuildResult, buildImage } from '../../src/services/vm/images.js';

export default class ImageBuild extends BerthCommand {
  static override summary = 'Build a VM image from Dockerfile.vm or a template';
  static override description =
    'Only the template files and the shared entrypoint are sent to Docker. VMs are never installed into at run time.';
  static override flags = {
    template: Flags.string({ description: 'template: default (Dockerfile.vm) or a directory of templates/', default: 'default' }),
    base: Flags.string({ description: 'base image (build arg BASE_IMAGE), e.g. berth-base:bookworm' }),
    tag: Flags.string({ description: 'image tag (default: berth-vm:latest, or berth-vm-TEMPLATE:latest)' }),
  };
  static override examples = [
    '<%= config.bin %> image build',
    '<%= config.bin %> image build --base berth-base:bookworm',
    '<%= config.bin %> image build --template minimal',
  ];

  async run(): Promise<BuildResult> {
    const { flags } = await this.parse(ImageBuild);
    const progress = progressLines(this.jsonEnabled());
    this.note(`Building ${flags.template}${flags.base ? ` on ${flags.base}` : ''}…`);
    const result = await buildImage(this.berth, { template: flags.template, base: flags.base, tag: flags.tag }, progress.line);
    progress.done();
    this.log(`Built ${result.tag} (${(result.sizeBytes / 1024 ** 2).toFixed(0)} MB) in ${result.seconds} s.`);
    return result;
  }
}
