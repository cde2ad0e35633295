// mvm image commit FILE
import type { Command } from 'commander';
import { commitImage } from '../../../disk/commit.js';
import { loadNativeFileOps } from '../../../disk/native-file-ops.js';
import { formatSize } from '../../../disk/size.js';

export function registerCommit(image: Command): void {
  image.command('commit')
    .description("write an overlay's changes into its backing file and empty the overlay")
    .argument('<file>')
    .action(async (file: string) => {
      await loadNativeFileOps(); // for the in-use check
      const { bytes } = commitImage(file);
      process.stdout.write(`Image committed (${formatSize(bytes)}).\n`);
    });
}
