// mvm image convert [-O qcow2|raw] [-c] [-o cluster_size=N] [-p] SRC DST
import type { Command } from 'commander';
import { convertImage } from '../../../disk/convert.js';
import { clusterBitsOption, collect, formatOption, parseOptionList } from './options.js';
import { ProgressBar } from './progress.js';

export function registerConvert(image: Command): void {
  image
    .command('convert')
    .description('copy an image (flattening its backing chain) into a new raw or qcow2 image')
    .argument('<src>')
    .argument('<dst>')
    .option('-O, --output-format <fmt>', 'qcow2 or raw', 'qcow2')
    .option('-f, --format <fmt>', 'source format (probed when omitted)')
    .option('-c, --compress', 'compress every cluster (qcow2 output)')
    .option('-o, --options <list>', 'cluster_size=64K', collect, [])
    .option('-p, --progress', 'show a progress bar (default on a terminal)')
    .option('-q, --quiet', 'no progress bar')
    .action(
      async (
        src: string,
        dst: string,
        o: { outputFormat: string; format?: string; compress?: boolean; options: string[]; progress?: boolean; quiet?: boolean },
      ) => {
        const opts = parseOptionList(o.options);
        const show = !o.quiet && (o.progress || process.stderr.isTTY === true);
        const bar = show ? new ProgressBar(process.stderr) : undefined;
        try {
          await convertImage(src, dst, {
            outFormat: formatOption(o.outputFormat, 'output format')!,
            inFormat: formatOption(o.format, 'source format'),
            compress: o.compress,
            clusterBits: clusterBitsOption(opts.get('cluster_size')),
            progress: bar ? (f) => bar.update(f) : undefined,
          });
        } finally {
          bar?.done();
        }
      },
    );
}
