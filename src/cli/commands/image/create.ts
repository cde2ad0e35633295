// mvm image create [-f qcow2|raw] [-o opts] [--cluster-size N] [-b BASE [-F FMT]] FILE [SIZE]
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { UserError } from '../../../errors.js';
import { ChainGuard, resolveBackingName } from '../../../disk/backing-name.js';
import { openChainMember, probeFormat, refuseOverwritingChain } from '../../../disk/open.js';
import { createQcow2, createRaw } from '../../../disk/qcow2/create.js';
import { parseSize } from '../../../units/size.js';
import { clusterBitsOption, collect, formatOption, parseOptionList } from './options.js';

export function registerCreate(image: Command): void {
  image
    .command('create')
    .description('create an empty image, or a copy-on-write overlay of BASE')
    .argument('<file>', 'image to create')
    .argument('[size]', 'virtual size, e.g. 512M or 10G (default for an overlay: the base size)')
    .option('-f, --format <fmt>', 'qcow2 or raw', 'qcow2')
    .option('-o, --options <list>', 'cluster_size=64K,refcount_bits=16,compat=1.1,lazy_refcounts=on', collect, [])
    .option('--cluster-size <size>', 'cluster size, 512 to 2M')
    .option('-b, --backing <base>', "backing file (relative names are relative to FILE's folder)")
    .option('-F, --backing-format <fmt>', 'backing file format (probed and recorded if omitted)')
    .action(
      (
        file: string,
        sizeText: string | undefined,
        o: { format: string; options: string[]; clusterSize?: string; backing?: string; backingFormat?: string },
      ) => {
        const format = formatOption(o.format, 'format')!;
        const opts = parseOptionList(o.options);
        const backing = o.backing ?? opts.get('backing_file');
        let backingFormat = formatOption(o.backingFormat ?? opts.get('backing_fmt'), 'backing format');
        let size = sizeText !== undefined ? parseSize(sizeText) : undefined;
        if (backing !== undefined) {
          if (format !== 'qcow2') throw new UserError('only qcow2 images can have a backing file');
          const target = resolveBackingName(file, backing);
          if (!fs.existsSync(target)) throw new UserError(`${file}: backing file ${target} does not exist`);
          backingFormat ??= probeFormat(target);
          const base = openChainMember(target, backingFormat, new ChainGuard(), file);
          try {
            refuseOverwritingChain(file, base);
            size ??= base.size;
          } finally {
            base.closeSync();
          }
        }
        if (size === undefined) throw new UserError('image size is required (e.g. 10G) unless -b BASE is given');
        if (format === 'raw') {
          if (opts.size > 0) throw new UserError('raw images take no -o options');
          createRaw(file, size);
          return;
        }
        const compat = opts.get('compat') ?? '1.1';
        if (compat !== '1.1' && compat !== '0.10' && compat !== 'v3' && compat !== 'v2') throw new UserError(`unknown compat level "${compat}"`);
        const refbits = opts.get('refcount_bits');
        const refcountOrder = refbits === undefined ? undefined : Math.log2(Number(refbits));
        if (refcountOrder !== undefined && (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6)) {
          throw new UserError(`refcount_bits must be 1, 2, 4, 8, 16, 32 or 64, not ${refbits}`);
        }
        for (const key of opts.keys()) {
          if (!['cluster_size', 'refcount_bits', 'compat', 'lazy_refcounts', 'backing_file', 'backing_fmt'].includes(key))
            throw new UserError(`unknown -o option "${key}"`);
        }
        createQcow2(file, {
          size,
          clusterBits: clusterBitsOption(o.clusterSize ?? opts.get('cluster_size')),
          refcountOrder,
          version: compat === '0.10' || compat === 'v2' ? 2 : 3,
          lazyRefcounts: opts.get('lazy_refcounts') === 'on',
          backing: backing !== undefined ? { name: backing, format: backingFormat } : undefined,
        });
      },
    );
}
