// mvm image map [--output human|json] FILE
import type { Command } from 'commander';
import { mapDisk } from '../../../disk/map.js';
import { chainDisks, openSync } from '../../../disk/open.js';
import { RawDisk } from '../../../disk/raw.js';
import { loadNativeFileOps } from '../../../disk/native-file-ops.js';

export function registerMap(image: Command): void {
  image
    .command('map')
    .description('show where each range of the image is stored (through its backing chain)')
    .argument('<file>')
    .option('--output <fmt>', 'human or json', 'human')
    .option('--json', 'same as --output json')
    .action(async (file: string, o: { output: string; json?: boolean }) => {
      const disk = openSync(file, { readOnly: true });
      try {
        // Raw files' holes are shown as zero ranges, as qemu-img map shows them.
        if (chainDisks(disk).some((d) => d instanceof RawDisk)) await loadNativeFileOps();
        const extents = mapDisk(disk);
        if (o.json || o.output === 'json') {
          const rows = extents.map((e) =>
            JSON.stringify({
              start: e.start,
              length: e.length,
              depth: e.depth,
              present: e.present,
              zero: e.zero,
              data: e.data,
              ...(e.offset !== undefined ? { offset: e.offset } : {}),
            })
              .replace(/,"/g, ', "')
              .replace(/":/g, '": ')
              .replace(/^{"/, '{ "'),
          );
          process.stdout.write(`[${rows.join(',\n')}]\n`);
        } else {
          const hex = (n: number) => `0x${n.toString(16)}`;
          const lines = ['Offset          Length          Mapped to       File'];
          for (const e of extents) {
            if (e.data && e.offset !== undefined)
              lines.push(`${hex(e.start).padEnd(16)}${hex(e.length).padEnd(16)}${hex(e.offset).padEnd(16)}${e.file}`);
          }
          process.stdout.write(`${lines.join('\n')}\n`);
        }
      } finally {
        disk.closeSync();
      }
    });
}
