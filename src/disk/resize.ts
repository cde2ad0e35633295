// `mvm image resize`: changes an image's virtual size, as qemu-img resize
// does. Growing a qcow2 image may need a bigger L1 table: it is written in
// new clusters first and the header switched to it in one write, so a crash
// leaves either the old table or the new one (the old one then leaks).
// Shrinking needs --shrink (it throws data away): the qcow2 clusters past the
// new end are deallocated before the header says the smaller size.
import * as fs from 'node:fs';
import type { DiskFormat } from './backend.js';
import { ImageError } from './errors.js';
import { refuseIfInUse } from './image-lock.js';
import { probeFormat } from './open.js';
import { MAX_L1_BYTES } from './qcow2/constants.js';
import { Qcow2Image } from './qcow2/image.js';
import { parseSize } from '../units/size.js';

/** qcow2 sizes are whole sectors (QEMU's rule too). */
const SECTOR = 512;

export interface ResizeOptions {
  shrink?: boolean;
  format?: DiskFormat;
}

/** The new size from "10G" (absolute), "+1G" or "-512M" (relative to `current`). */
export function targetSize(text: string, current: number): number {
  const sign = text.startsWith('+') ? 1 : text.startsWith('-') ? -1 : 0;
  const amount = parseSize(sign ? text.slice(1) : text);
  const size = sign === 0 ? amount : current + sign * amount;
  if (size < 0) throw new ImageError(text, `would make the size negative (the image has ${current} bytes)`);
  return size;
}

export async function resizeImage(path: string, sizeText: string, opts: ResizeOptions = {}): Promise<{ from: number; to: number }> {
  await refuseIfInUse(path);
  const format = opts.format ?? probeFormat(path);
  if (format === 'raw') {
    const from = fs.statSync(path).size;
    const to = targetSize(sizeText, from);
    if (to < from && !opts.shrink) throw new ImageError(path, `shrinking from ${from} to ${to} bytes throws data away; give --shrink to do it`);
    fs.truncateSync(path, to);
    return { from, to };
  }
  const image = Qcow2Image.open(path, { readOnly: false });
  try {
    const from = image.size;
    const to = targetSize(sizeText, from);
    if (to % SECTOR !== 0) throw new ImageError(path, `a qcow2 size must be a multiple of ${SECTOR} bytes, not ${to}`);
    if (image.header.nbSnapshots > 0) throw new ImageError(path, 'image has internal snapshots; delete them before resizing');
    if (to < from) {
      if (!opts.shrink) throw new ImageError(path, `shrinking from ${from} to ${to} bytes throws data away; give --shrink to do it`);
      shrinkQcow2(image, to);
    } else if (to > from) {
      growQcow2(image, to);
      // The new part reads as zeros, as qemu-img makes it, even where a longer backing file has data.
      const exposed = Math.min(to, image.backing?.size ?? 0) - from;
      if (exposed > 0) {
        image.writeZeroesSync(from, exposed);
        image.flushSync();
      }
    }
    return { from, to };
  } finally {
    image.closeSync();
  }
}

function l1EntriesFor(image: Qcow2Image, size: number): number {
  return Math.ceil(size / (image.clusterSize * image.l2Entries));
}

function growQcow2(image: Qcow2Image, size: number): void {
  const h = image.header;
  const needed = l1EntriesFor(image, size);
  if (needed * 8 > MAX_L1_BYTES) throw new ImageError(image.path, `${size} bytes needs an L1 table larger than the ${MAX_L1_BYTES}-byte limit`);
  if (needed > h.l1Size) {
    const rc = image.refcounts!,
      cs = image.clusterSize;
    const l1 = Buffer.alloc(needed * 8);
    image.l1.copy(l1);
    const offset = rc.allocate(Math.ceil(l1.length / cs)) * cs;
    image.file.write(offset, l1);
    image.flushSync(); // the new table and its refcounts are durable before the header points at them
    const old = { offset: h.l1TableOffset, bytes: h.l1Size * 8 };
    h.l1TableOffset = offset;
    h.l1Size = needed;
    h.size = size;
    image.replaceL1(l1);
    image.writeHeader();
    image.file.sync();
    if (old.bytes > 0) rc.decrementRangeLater(old.offset, old.bytes);
    image.flushSync();
    return;
  }
  h.size = size;
  image.writeHeader();
  image.file.sync();
}

function shrinkQcow2(image: Qcow2Image, size: number): void {
  const cs = image.clusterSize;
  // Whole clusters past the new end go; a cluster the new end falls inside stays (its tail is never read).
  const firstGone = Math.ceil(size / cs) * cs;
  if (firstGone < image.size) image.deallocateSync(firstGone, image.size - firstGone);
  image.flushSync();
  image.header.size = size;
  image.writeHeader();
  image.file.sync();
}
