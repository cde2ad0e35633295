// Where every guest byte of an image comes from, through its backing chain
// (the data behind `mvm image map`, shaped like `qemu-img map --output=json`).
import type { SyncDisk } from './backend.js';
import { Qcow2Image } from './qcow2/image.js';
import { Kind } from './qcow2/mapping.js';
import { RawDisk } from './raw.js';

export interface Extent {
  start: number;
  length: number;
  /** 0 = the image itself, 1 = its backing file, ... */
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  compressed: boolean;
  /** Host offset in `file` for plain data. */
  offset?: number;
  file?: string;
}

/** Describes [start, start+length) of `disk` as one extent plus how far it reaches. */
function describe(disk: SyncDisk, g: number, depth: number): Extent {
  if (!(disk instanceof Qcow2Image)) {
    if (g >= disk.size) return { start: g, length: Infinity, depth, present: false, zero: true, data: false, compressed: false };
    // A raw file's holes read as zeros and are reported at their offset, as qemu-img does.
    const e = disk instanceof RawDisk ? disk.extentAt(g) : { data: true, length: disk.size - g };
    return { start: g, length: e.length, depth, present: true, zero: !e.data, data: e.data, compressed: false, offset: g, file: disk.path };
  }
  if (g >= disk.size) return { start: g, length: Infinity, depth, present: false, zero: true, data: false, compressed: false };
  const m = disk.mapGuest(g);
  const length = Math.min(m.avail, disk.size - g);
  switch (m.kind) {
    case Kind.Data:
      return { start: g, length, depth, present: true, zero: false, data: true, compressed: false, offset: m.host, file: disk.path };
    case Kind.Zero:
      return { start: g, length, depth, present: true, zero: true, data: false, compressed: false };
    case Kind.Compressed:
      return { start: g, length, depth, present: true, zero: false, data: true, compressed: true };
    default: {
      // Past the end of a shorter backing file the zeros belong to this layer (as qemu-img reports it).
      if (!disk.backing || g >= disk.backing.size) {
        return { start: g, length, depth, present: false, zero: true, data: false, compressed: false };
      }
      const below = describe(disk.backing, g, depth + 1);
      return { ...below, length: Math.min(length, below.length, disk.backing.size - g) };
    }
  }
}

function mergeable(a: Extent, b: Extent): boolean {
  return (
    a.depth === b.depth &&
    a.present === b.present &&
    a.zero === b.zero &&
    a.data === b.data &&
    a.compressed === b.compressed &&
    a.file === b.file &&
    (a.offset === undefined ? b.offset === undefined : b.offset === a.offset + a.length)
  );
}

/** Bytes from `g` that are known to read as zeros without reading them (0 if data follows). */
export function zeroBytesAt(disk: SyncDisk, g: number, limit: number): number {
  let n = 0;
  while (g + n < disk.size && n < limit) {
    const e = describe(disk, g + n, 0);
    if (e.data) break;
    n += Math.min(e.length, disk.size - g - n);
  }
  return Math.min(n, limit);
}

export function mapDisk(disk: SyncDisk): Extent[] {
  const out: Extent[] = [];
  let g = 0;
  while (g < disk.size) {
    const e = describe(disk, g, 0);
    e.length = Math.min(e.length, disk.size - g);
    const last = out[out.length - 1];
    if (last && mergeable(last, e)) last.length += e.length;
    else out.push(e);
    g += e.length;
  }
  return out;
}
