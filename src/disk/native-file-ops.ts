// A raw file's holes: finding them (lseek SEEK_DATA / SEEK_HOLE), so convert
// and map skip what was never written without reading it, and making new ones
// (fallocate PUNCH_HOLE), so a guest's discard gives the space back to the
// host. Node's fs has neither call; they go through the FFI in src/kvm, which
// is loaded only by the code paths that want it (koffi's load is ~10 ms that
// every other `mvm image` command would otherwise pay at start-up).
import { constants } from 'node:os';

export interface SparseFileOps {
  /** Offset of the first data byte in [from, end), or `end` when only holes follow. */
  nextData(fd: number, from: number, end: number): number;
  /** Offset of the first hole byte in [from, end) (the end of the file counts as a hole), or `end`. */
  nextHole(fd: number, from: number, end: number): number;
  /** Deallocates [offset, offset+length), keeping the file's size; false where the file or file system cannot. */
  punchHole(fd: number, offset: number, length: number): boolean;
}

const { EINVAL, ENXIO, EOPNOTSUPP, ENOSYS } = constants.errno;

let ops: SparseFileOps | undefined;
let attempted = false;

/** Loads the FFI once; undefined (holes unseen, discard a no-op) where koffi cannot load. */
export async function loadSparseFileOps(): Promise<SparseFileOps | undefined> {
  if (attempted) return ops;
  attempted = true;
  try {
    const ffi = await import('../kvm/ffi.js');
    ops = {
      nextData(fd, from, end) {
        if (from >= end) return end;
        // ENXIO: no data at or after `from`. EINVAL: a file (block device) that cannot tell, so all of it is data.
        const r = ffi.lseek(fd, from, ffi.SEEK_DATA, 'lseek SEEK_DATA', [ENXIO, EINVAL]);
        if (r === -ENXIO) return end;
        if (r < 0) return from;
        return Math.min(Math.max(r, from), end);
      },
      nextHole(fd, from, end) {
        if (from >= end) return end;
        const r = ffi.lseek(fd, from, ffi.SEEK_HOLE, 'lseek SEEK_HOLE', [ENXIO, EINVAL]);
        if (r < 0) return end;
        return Math.min(Math.max(r, from), end);
      },
      punchHole(fd, offset, length) {
        if (length <= 0) return true;
        const mode = ffi.FALLOC_FL_PUNCH_HOLE | ffi.FALLOC_FL_KEEP_SIZE;
        return ffi.fallocate(fd, mode, offset, length, 'fallocate PUNCH_HOLE', [EOPNOTSUPP, ENOSYS, EINVAL]) === 0;
      },
    };
  } catch {
    ops = undefined;
  }
  return ops;
}

/** The operations if loadSparseFileOps() succeeded earlier in this process. */
export function sparseFileOps(): SparseFileOps | undefined {
  return ops;
}
