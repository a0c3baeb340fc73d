import { BerthCommand } from '../../src/cli/base-command.js';
import { imageTable } from '../../src/cli/render.js';
import { type ImageView, listImages } from '../../src/services/vm/images.js';

export default class ImageList extends BerthCommand {
  static override summary = 'List berth VM images with size and age';
  static override examples = ['<%= config.bin %> image list', '<%= config.bin %> image list --json'];

  async run(): Promise<ImageView[]> {
    await this.parse(ImageList);
    const images = await listImages(this.berth);
    this.log(imageTable(images));
    return images;
  }
}
