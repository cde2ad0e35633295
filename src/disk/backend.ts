// The one interface every disk format implements; virtio-blk talks only to
// this. Implementations do their file I/O synchronously inside the async
// methods, so one request's metadata updates never interleave with another's.

export type DiskFormat = 'raw' | 'qcow2';

export interface DiskBackend {
  readonly path: string;
  readonly format: DiskFormat;
  /** Virtual size in bytes, as the guest sees it. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fills `buffer` with the bytes at `offset`. */
  read(offset: number, buffer: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes every completed write and the metadata describing it durable. */
  flush(): Promise<void>;
  /** Advisory: the range's contents become unspecified (zero or backing). */
  discard(offset: number, length: number): Promise<void>;
  /** The range reads as zeros afterwards. */
  writeZeroes(offset: number, length: number): Promise<void>;
  close(): Promise<void>;
}

/** Synchronous form of the same operations; backing chains and tools use it. */
export interface SyncDisk {
  readonly path: string;
  readonly format: DiskFormat;
  readonly size: number;
  readonly readOnly: boolean;
  readSync(offset: number, buffer: Uint8Array): void;
  writeSync(offset: number, data: Uint8Array): void;
  flushSync(): void;
  discardSync(offset: number, length: number): void;
  writeZeroesSync(offset: number, length: number): void;
  closeSync(): void;
}

/**
 * A synchronous disk that can move one request's scattered buffers in one
 * system call (preadv/pwritev): a raw file. The buffers are read or written
 * in order, as one run of bytes starting at `offset`.
 */
export interface VectoredDisk extends SyncDisk {
  readVectorSync(offset: number, buffers: readonly Uint8Array[]): void;
  writeVectorSync(offset: number, buffers: readonly Uint8Array[]): void;
}

export function isVectored(disk: SyncDisk): disk is VectoredDisk {
  return typeof (disk as Partial<VectoredDisk>).readVectorSync === 'function';
}

/** Adapts a synchronous disk to the async backend interface. */
export function asBackend(disk: SyncDisk): DiskBackend {
  return {
    get path() {
      return disk.path;
    },
    get format() {
      return disk.format;
    },
    get size() {
      return disk.size;
    },
    get readOnly() {
      return disk.readOnly;
    },
    read: async (offset, buffer) => disk.readSync(offset, buffer),
    write: async (offset, data) => disk.writeSync(offset, data),
    flush: async () => disk.flushSync(),
    discard: async (offset, length) => disk.discardSync(offset, length),
    writeZeroes: async (offset, length) => disk.writeZeroesSync(offset, length),
    close: async () => disk.closeSync(),
  };
}

/** Throws unless [offset, offset+length) lies inside a disk of `size` bytes. */
export function checkRange(path: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`${path}: request at ${offset} for ${length} bytes is outside the ${size}-byte disk`);
  }
}
