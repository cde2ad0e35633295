// File operations Node's fs lacks, through libc (src/sys/libc.ts): a raw file's
// holes (lseek SEEK_DATA / SEEK_HOLE) so convert and map skip what was never
// written without reading it, new holes (fallocate PUNCH_HOLE) so a guest's
// discard gives the space back, and byte-range locks on the open file
// (fcntl F_OFD_SETLK / F_OFD_GETLK) for image-lock.ts.
//
// The VMM has the FFI loaded anyway and installs these synchronously; the
// image commands load it on demand (koffi's load is ~10 ms that every `mvm
// image` command would otherwise pay at start-up). Until then, or where koffi
// cannot load, nativeFileOps() is undefined: holes are not seen, discard does
// nothing, no locks are taken.
import { constants } from 'node:os';

type Ffi = typeof import('../sys/libc.js');

export interface NativeFileOps {
  /** Offset of the first data byte in [from, end), or `end` when only holes follow. */
  nextData(fd: number, from: number, end: number): number;
  /** Offset of the first hole byte in [from, end) (the end of the file counts as a hole), or `end`. */
  nextHole(fd: number, from: number, end: number): number;
  /** Deallocates [offset, offset+length), keeping the file's size; false where the file or file system cannot. */
  punchHole(fd: number, offset: number, length: number): boolean;
  /**
   * Takes a shared lock on `length` bytes at `offset` for this open file:
   * 'conflict' if another holds them exclusively, 'unsupported' where the
   * file system has no such locks (then nothing is locked).
   */
  lockShared(fd: number, offset: number, length: number): 'locked' | 'conflict' | 'unsupported';
  /** Whether an open file other than `fd`'s holds a lock on any of `length` bytes at `offset` (false where locks are unsupported). */
  lockedByOthers(fd: number, offset: number, length: number): boolean;
}

const { EINVAL, ENXIO, EOPNOTSUPP, ENOSYS, EAGAIN, EACCES, ENOLCK } = constants.errno;
/** What fcntl record locks fail with on a file system (or kernel) without them. */
const NO_LOCKS = [ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL];

let ops: NativeFileOps | undefined;

function makeOps(ffi: Ffi): NativeFileOps {
  return {
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
    lockShared(fd, offset, length) {
      const r = ffi.recordLock(fd, ffi.F_OFD_SETLK, ffi.F_RDLCK, offset, length, 'fcntl F_OFD_SETLK', [EAGAIN, EACCES, ...NO_LOCKS]);
      if (r.errno === undefined) return 'locked';
      return r.errno === EAGAIN || r.errno === EACCES ? 'conflict' : 'unsupported';
    },
    lockedByOthers(fd, offset, length) {
      // Asking for an exclusive lock reports whichever lock of another open file would stand in its way.
      const r = ffi.recordLock(fd, ffi.F_OFD_GETLK, ffi.F_WRLCK, offset, length, 'fcntl F_OFD_GETLK', NO_LOCKS);
      return r.errno === undefined && r.type !== ffi.F_UNLCK;
    },
  };
}

/** Makes the operations available from the FFI module a caller has already loaded. */
export function installNativeFileOps(ffi: Ffi): NativeFileOps {
  ops ??= makeOps(ffi);
  return ops;
}

/** Loads the FFI once; undefined where koffi cannot load. */
export async function loadNativeFileOps(): Promise<NativeFileOps | undefined> {
  if (ops) return ops;
  try {
    return installNativeFileOps(await import('../sys/libc.js'));
  } catch {
    return undefined;
  }
}

/** The operations, if installed or loaded earlier in this process. */
export function nativeFileOps(): NativeFileOps | undefined {
  return ops;
}
