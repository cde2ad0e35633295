// mvm image info [--json] FILE
import type { Command } from 'commander';
import { formatInfo, imageInfo } from '../../../disk/info.js';

export function registerInfo(image: Command): void {
  image
    .command('info')
    .description('show format, sizes, backing file and snapshots of an image')
    .argument('<file>')
    .option('--json', 'machine-readable output (like qemu-img info --output=json)')
    .option('--output <fmt>', 'human or json')
    .action((file: string, o: { json?: boolean; output?: string }) => {
      const info = imageInfo(file);
      const json = o.json || o.output === 'json';
      process.stdout.write(`${json ? JSON.stringify(info, null, 2) : formatInfo(info)}\n`);
    });
}
