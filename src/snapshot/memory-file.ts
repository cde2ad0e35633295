// A snapshot's guest memory on disk: every RAM region back to back, written
// only where a page holds something other than zeros, so the file is sparse
// wherever the guest never wrote (a hole reads back as zeros, and a restore
// maps the file MAP_PRIVATE: untouched pages cost the host nothing).
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { SnapshotError } from './snapshot-error.js';
import { MEMORY_FILE, type MemoryLayout, type MemoryRegionRecord } from './snapshot-state.js';

const PAGE = 4096;
/** Pages compared at a time before looking closer: most of an idle guest is zeros in long runs. */
const CHUNK = 64 * PAGE;
const ZERO_CHUNK = Buffer.alloc(CHUNK);

export interface RamRegion {
  readonly guestAddress: number;
  readonly bytes: Uint8Array;
}

export interface MemoryFileWritten {
  readonly layout: MemoryLayout;
  /** Bytes of pages actually written (the rest are holes). */
  readonly dataBytes: number;
  /** Bytes the file occupies on disk (st_blocks), which may round up. */
  readonly allocatedBytes: number;
}

function isZero(bytes: Uint8Array, at: number, length: number): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, length).equals(length === CHUNK ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, length));
}

/** Writes runs of non-zero pages of `bytes` at `fileOffset`; returns how many bytes were written. */
function writeNonZeroPages(fd: number, bytes: Uint8Array, fileOffset: number): number {
  let written = 0;
  let runStart = -1;
  const flush = (end: number): void => {
    if (runStart < 0) return;
    let at = runStart;
    while (at < end) at += writeSync(fd, bytes, at, end - at, fileOffset + at);
    written += end - runStart;
    runStart = -1;
  };
  for (let chunk = 0; chunk < bytes.length; chunk += CHUNK) {
    const chunkEnd = Math.min(chunk + CHUNK, bytes.length);
    if (runStart < 0 && chunkEnd - chunk === CHUNK && isZero(bytes, chunk, CHUNK)) continue;
    for (let page = chunk; page < chunkEnd; page += PAGE) {
      const length = Math.min(PAGE, chunkEnd - page);
      if (isZero(bytes, page, length)) flush(page);
      else if (runStart < 0) runStart = page;
    }
  }
  flush(bytes.length);
  return written;
}

/**
 * Writes guest RAM to `path` (a new file) and makes it durable before
 * returning: the VM may only resume, and its pages change, once the
 * snapshot on disk is complete.
 */
export function writeMemoryFile(path: string, regions: readonly RamRegion[]): MemoryFileWritten {
  const total = regions.reduce((sum, r) => sum + r.bytes.length, 0);
  const fd = openSync(path, 'wx', 0o600);
  try {
    ftruncateSync(fd, total);
    let fileOffset = 0;
    let dataBytes = 0;
    const records: MemoryRegionRecord[] = [];
    for (const region of regions) {
      dataBytes += writeNonZeroPages(fd, region.bytes, fileOffset);
      records.push({ guestAddress: region.guestAddress, size: region.bytes.length, fileOffset });
      fileOffset += region.bytes.length;
    }
    fsyncSync(fd);
    const allocatedBytes = fstatSync(fd).blocks * 512;
    return { layout: { file: MEMORY_FILE, bytes: total, regions: records }, dataBytes, allocatedBytes };
  } finally {
    closeSync(fd);
  }
}

/** Refuses a memory file that is not exactly as long as the layout says (truncated, or another machine's). */
export function checkMemoryFile(path: string, layout: MemoryLayout): void {
  let size: number;
  try {
    const fd = openSync(path, 'r');
    try {
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new SnapshotError(`cannot open the snapshot's memory file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size !== layout.bytes) throw new SnapshotError(`the snapshot's memory file ${path} is ${size} bytes, the machine has ${layout.bytes}`);
}
