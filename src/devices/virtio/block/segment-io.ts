// Moving a block request's data between the disk and the guest's scattered
// buffers. Linux hands a large O_DIRECT request over as many page-sized
// buffers (up to SEG_MAX of them). A disk that can (raw) moves them all with
// one preadv/pwritev straight into or out of guest RAM; any other format
// (qcow2) gets runs of segments through one bounce buffer of at most
// BOUNCE_WINDOW_BYTES per call, since one call per 4 KiB segment cost far
// more than the extra copy.
import { isVectored, type SyncDisk } from '../../../disk/backend.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { Segment } from '../../../virtio/chain.js';
import { gather, scatter } from '../../../virtio/segments.js';

/**
 * Largest bounce buffer: bounds the host memory one request can make the VMM
 * allocate (a guest may describe gigabytes in one chain); 1 MiB covers the
 * requests Linux issues by default (max_sectors_kb 1280 → 1 MiB aligned).
 */
export const BOUNCE_WINDOW_BYTES = 1 << 20;

/** Consecutive segments grouped into windows of at most BOUNCE_WINDOW_BYTES; a larger segment is a window of its own. */
export function bounceWindows(segments: readonly Segment[]): Segment[][] {
  const windows: Segment[][] = [];
  let current: Segment[] = [];
  let bytes = 0;
  for (const s of segments) {
    if (current.length > 0 && bytes + s.length > BOUNCE_WINDOW_BYTES) {
      windows.push(current);
      current = [];
      bytes = 0;
    }
    current.push(s);
    bytes += s.length;
  }
  if (current.length > 0) windows.push(current);
  return windows;
}

function windowBytes(window: readonly Segment[]): number {
  return window.reduce((sum, s) => sum + s.length, 0);
}

/**
 * Reads the disk from `offset` into the segments, synchronously: one preadv
 * straight into guest RAM when the disk can (raw), else through bounce windows.
 */
export function readIntoSegmentsSync(disk: SyncDisk, memory: GuestMemory, offset: number, segments: readonly Segment[]): void {
  if (isVectored(disk)) {
    disk.readVectorSync(
      offset,
      segments.map((s) => memory.slice(s.address, s.length)),
    );
    return;
  }
  let at = offset;
  for (const window of bounceWindows(segments)) {
    const length = windowBytes(window);
    if (window.length === 1) {
      disk.readSync(at, memory.slice(window[0]!.address, length));
    } else {
      const bounce = Buffer.allocUnsafe(length); // the disk fills every byte
      disk.readSync(at, bounce);
      scatter(memory, window, 0, bounce);
    }
    at += length;
  }
}

/** Writes the segments, in order, to the disk from `offset`, synchronously (one pwritev when the disk can). */
export function writeFromSegmentsSync(disk: SyncDisk, memory: GuestMemory, offset: number, segments: readonly Segment[]): void {
  if (isVectored(disk)) {
    disk.writeVectorSync(
      offset,
      segments.map((s) => memory.slice(s.address, s.length)),
    );
    return;
  }
  let at = offset;
  for (const window of bounceWindows(segments)) {
    const length = windowBytes(window);
    disk.writeSync(at, window.length === 1 ? memory.slice(window[0]!.address, length) : gather(memory, window, 0, length));
    at += length;
  }
}
