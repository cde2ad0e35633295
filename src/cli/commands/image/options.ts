// Parsing the qemu-img style `-o key=value,...` option lists and formats.
import { UserError } from '../../../errors.js';
import type { DiskFormat } from '../../../disk/backend.js';
import { MAX_CLUSTER_BITS, MIN_CLUSTER_BITS } from '../../../disk/qcow2/constants.js';
import { parseSize } from '../../../units/size.js';

export function parseOptionList(list: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const group of list) {
    for (const item of group.split(',')) {
      if (!item) continue;
      const eq = item.indexOf('=');
      if (eq <= 0) throw new UserError(`invalid -o option "${item}" (expected key=value)`);
      out.set(item.slice(0, eq), item.slice(eq + 1));
    }
  }
  return out;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function formatOption(name: string | undefined, what: string): DiskFormat | undefined {
  if (name === undefined) return undefined;
  if (name === 'raw' || name === 'qcow2') return name;
  throw new UserError(`unsupported ${what} "${name}" (mvm knows raw and qcow2)`);
}

/** cluster_size=64K → 16 (log2), refusing sizes that are not powers of two. */
export function clusterBitsOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const size = parseSize(text, 'cluster size');
  const bits = Math.log2(size);
  if (!Number.isInteger(bits) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS)
    throw new UserError(`cluster size ${text} must be a power of two from 512 to 2M`);
  return bits;
}
