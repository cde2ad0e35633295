// Backing file names: resolution relative to the overlay's folder, refusal of
// protocol and json: names (they could point anywhere on the host), and loop
// detection by device and inode.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from './errors.js';
import { MAX_BACKING_DEPTH } from './qcow2/constants.js';

/** "json:{...}", "nbd:", "file:", "http://"... — anything QEMU would treat as a protocol. */
const PROTOCOL_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:/;

export function resolveBackingName(overlayPath: string, name: string): string {
  if (name.length === 0) throw new ImageError(overlayPath, 'backing file name is empty');
  if (PROTOCOL_PREFIX.test(name)) {
    throw new ImageError(overlayPath, `backing file "${name}" uses a protocol or json: prefix, which mvm refuses`);
  }
  return path.isAbsolute(name) ? name : path.resolve(path.dirname(overlayPath), name);
}

/** Tracks the files of one chain; throws on a loop or a chain that is too deep. */
export class ChainGuard {
  private readonly seen = new Set<string>();
  private depth = 0;

  enter(imagePath: string, fd: number, from: string): void {
    const st = fs.fstatSync(fd);
    const key = `${st.dev}:${st.ino}`;
    if (this.seen.has(key)) throw new ImageError(from, `backing chain loops back to ${imagePath}`);
    this.seen.add(key);
    if (++this.depth > MAX_BACKING_DEPTH) throw new ImageError(from, `backing chain is deeper than ${MAX_BACKING_DEPTH} images`);
  }
}
