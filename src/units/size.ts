// Byte sizes as users type them (4096, 512K, 512M, 10G, 1T: binary multiples,
// like qemu-img) and as mvm prints them. Used for guest memory, image sizes
// and listings alike, so it sits below every layer that reads or shows a size.
import { UserError } from '../errors.js';

const SUFFIX: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };

export function parseSize(text: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTPB]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new UserError(`invalid ${what} "${text}" (use bytes or a K/M/G/T suffix, e.g. 512M or 10G)`);
  const bytes = Number(m[1]) * SUFFIX[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(Math.round(bytes)) || bytes < 0) throw new UserError(`${what} "${text}" is too large`);
  return Math.round(bytes);
}

/** 1073741824 → "1 GiB", 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes,
    u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 3 : v < 100 ? 2 : 1).replace(/\.?0+$/, '')} ${units[u]}`;
}
