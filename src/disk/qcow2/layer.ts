// The read side of an open qcow2 image: geometry, the L1 table in memory, the
// L2 cache, and reads through zero, compressed and unallocated clusters down
// the backing chain. Qcow2Image (image.ts) adds the write path on top.
import type { SyncDisk } from '../backend.js';
import { checkRange } from '../backend.js';
import type { ChainGuard } from '../backing-name.js';
import { ImageError } from '../errors.js';
import {
  COMPAT_LAZY_REFCOUNTS,
  H,
  HI_COMPRESSED,
  HI_OFFSET_MASK,
  INCOMPAT_CORRUPT,
  INCOMPAT_EXTL2,
  LO_OFFSET_MASK,
  LO_ZERO,
  TWO_32,
} from './constants.js';
import { decodeCompressed, decompressCluster } from './compressed.js';
import { entryOffset, writeU64 } from './entries.js';
import type { ImageFile } from './file-io.js';
import type { Qcow2Header } from './header.js';
import { L2Cache } from './l2-cache.js';
import type { Mapping } from './mapping.js';
import { decodeEntry, Kind } from './mapping.js';
import { Refcounts } from './refcount.js';

/** Smallest L2 cache that still works (a write may hold two tables at once). */
const MIN_CACHE_TABLES = 4;

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Most L2 tables kept in memory; default: all of them. */
  l2CacheTables?: number;
  /** Shared with the images above this one, to detect loops. */
  chain?: ChainGuard;
  /** Opens a dirty lazy-refcount image without repairing it (check uses this). */
  noRepair?: boolean;
  /** Skip fdatasync (convert's brand-new output, which is useless if interrupted anyway). */
  noSync?: boolean;
  /** Leaves the backing chain closed (info, header-only tools); unallocated clusters then read as zeros. */
  skipBacking?: boolean;
}

export abstract class Qcow2Layer implements SyncDisk {
  readonly format = 'qcow2' as const;
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly l2Entries: number;
  readonly entryBytes: number;
  readonly extendedL2: boolean;
  /** Active L1 table, big-endian as on disk. */
  l1: Buffer;
  /** The L1 entries' L2 offsets as numbers, for the read hot path; kept in step by setL1Entry/replaceL1. */
  protected l1Offsets: Float64Array;
  readonly l1Dirty = new Set<number>();
  readonly cache: L2Cache;
  readonly refcounts?: Refcounts;
  backing?: SyncDisk;
  /** Offsets of every L2 table the active L1 points at (allocation must never hand them out). */
  readonly knownL2 = new Set<number>();
  private lastInflated?: { hi: number; lo: number; data: Buffer };
  protected closed = false;

  protected constructor(
    readonly path: string,
    readonly file: ImageFile,
    readonly header: Qcow2Header,
    readonly readOnly: boolean,
    opts: Qcow2OpenOptions,
  ) {
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.extendedL2 = (header.incompatible & INCOMPAT_EXTL2) !== 0;
    this.entryBytes = this.extendedL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
    this.l1 = header.l1Size ? file.readMeta(header.l1TableOffset, header.l1Size * 8, 'L1 table') : Buffer.alloc(0);
    this.l1Offsets = new Float64Array(header.l1Size);
    for (let i = 0; i < header.l1Size; i++) {
      const off = entryOffset(this.l1, i * 8);
      this.l1Offsets[i] = off;
      if (off !== 0) this.knownL2.add(off);
    }
    const tables = Math.max(MIN_CACHE_TABLES, opts.l2CacheTables ?? Infinity);
    this.cache = new L2Cache(file, this.clusterSize, tables, () => this.flushSync());
    if (!readOnly) {
      this.refcounts = new Refcounts(file, {
        clusterBits: header.clusterBits,
        refcountOrder: header.refcountOrder,
        tableOffset: header.refcountTableOffset,
        tableClusters: header.refcountTableClusters,
      });
      this.refcounts.guard = (c) => this.refuseMetadataCluster(c);
    }
  }

  get size(): number {
    return this.header.size;
  }

  get lazyRefcounts(): boolean {
    return (this.header.compatible & COMPAT_LAZY_REFCOUNTS) !== 0 && this.header.version >= 3;
  }

  // ---- read path ---------------------------------------------------------

  /** What the guest byte at `g` maps to in this layer. */
  mapGuest(g: number): Mapping {
    const cs = this.clusterSize;
    const ci = Math.floor(g / cs);
    const inCluster = g - ci * cs;
    const l1i = Math.floor(ci / this.l2Entries);
    const l2off = l1i < this.header.l1Size ? entryOffset(this.l1, l1i * 8) : 0;
    if (l2off === 0) {
      const span = this.l2Entries * cs;
      return { kind: Kind.Unallocated, host: 0, avail: span - (g % span), hi: 0, lo: 0 };
    }
    const l2 = this.cache.get(l2off);
    return decodeEntry(this.path, l2, (ci % this.l2Entries) * this.entryBytes, inCluster, this);
  }

  get version(): number {
    return this.header.version;
  }

  readSync(offset: number, buf: Uint8Array): void {
    checkRange(this.path, this.size, offset, buf.length);
    const len = buf.length;
    const direct = this.plainDataHost(offset, len);
    if (direct >= 0) {
      this.file.readInto(direct, buf, 0, len);
      return;
    }
    let pos = 0;
    while (pos < len) {
      const g = offset + pos;
      const m = this.mapGuest(g);
      let n = Math.min(m.avail, len - pos);
      // Merge neighbours of the same kind (and, for data, contiguous on disk) into one I/O.
      while (pos + n < len && m.kind !== Kind.Compressed) {
        const next = this.mapGuest(g + n);
        if (next.kind !== m.kind || (m.kind === Kind.Data && next.host !== m.host + n)) break;
        n += Math.min(next.avail, len - pos - n);
      }
      switch (m.kind) {
        case Kind.Data:
          this.file.readInto(m.host, buf, pos, n);
          break;
        case Kind.Zero:
          buf.fill(0, pos, pos + n);
          break;
        case Kind.Unallocated:
          this.readBelow(g, buf, pos, n);
          break;
        case Kind.Compressed: {
          const cluster = this.inflate(m);
          const inCluster = g % this.clusterSize;
          buf.set(cluster.subarray(inCluster, inCluster + n), pos);
          break;
        }
      }
      pos += n;
    }
  }

  /**
   * The common guest request — inside one plain data cluster — with one table
   * lookup and no allocation; -1 sends everything else (and every oddity,
   * which the general path reports) down the general path.
   */
  private plainDataHost(g: number, len: number): number {
    if (this.extendedL2) return -1;
    const cs = this.clusterSize;
    const ci = Math.floor(g / cs);
    const inCluster = g - ci * cs;
    if (inCluster + len > cs) return -1;
    const l1i = Math.floor(ci / this.l2Entries);
    if (l1i >= this.header.l1Size) return -1;
    const l2off = this.l1Offsets[l1i]!;
    if (l2off === 0) return -1;
    const l2 = this.cache.get(l2off);
    const at = (ci % this.l2Entries) * 8;
    const hi = l2.readUInt32BE(at),
      lo = l2.readUInt32BE(at + 4);
    if (hi & HI_COMPRESSED || (lo & LO_ZERO && this.header.version >= 3)) return -1;
    const host = (hi & HI_OFFSET_MASK) * TWO_32 + ((lo & LO_OFFSET_MASK) >>> 0);
    if (host === 0 || host % cs !== 0) return -1;
    return host + inCluster;
  }

  /** Reads what lies below this layer: the backing image, zeros past its end. */
  private readBelow(g: number, buf: Uint8Array, start: number, n: number): void {
    const fromBacking = this.backing ? Math.max(0, Math.min(n, this.backing.size - g)) : 0;
    if (fromBacking > 0) this.backing!.readSync(g, buf.subarray(start, start + fromBacking));
    buf.fill(0, start + fromBacking, start + n);
  }

  private inflate(m: Mapping): Buffer {
    const last = this.lastInflated;
    if (last && last.hi === m.hi && last.lo === m.lo) return last.data;
    const ext = decodeCompressed(m.hi, m.lo, this.clusterBits);
    if (ext.offset >= this.file.length) throw new ImageError(this.path, `compressed cluster at ${ext.offset} lies beyond the end of the file`);
    const length = Math.min(ext.length, this.file.length - ext.offset);
    const data = decompressCluster(
      this.path,
      this.file.readMeta(ext.offset, length, 'compressed cluster'),
      this.clusterSize,
      this.header.compressionType,
    );
    this.lastInflated = { hi: m.hi, lo: m.lo, data };
    return data;
  }

  /** Makes `l1` the active L1 table (snapshot apply); the header is the caller's job. */
  replaceL1(l1: Buffer): void {
    this.l1 = l1;
    this.l1Dirty.clear();
    this.knownL2.clear();
    this.l1Offsets = new Float64Array(l1.length / 8);
    for (let i = 0; i < l1.length / 8; i++) {
      const off = entryOffset(l1, i * 8);
      this.l1Offsets[i] = off;
      if (off !== 0) this.knownL2.add(off);
    }
  }

  /** Rewrites the fixed header fields mvm changes; unknown fields and extensions stay as they are. */
  writeHeader(): void {
    const h = this.header,
      raw = h.raw;
    writeU64(raw, H.size, h.size);
    raw.writeUInt32BE(h.l1Size, H.l1Size);
    writeU64(raw, H.l1TableOffset, h.l1TableOffset);
    if (this.refcounts) {
      h.refcountTableOffset = this.refcounts.tableOffset;
      h.refcountTableClusters = this.refcounts.tableClusters;
    }
    writeU64(raw, H.refcountTableOffset, h.refcountTableOffset);
    raw.writeUInt32BE(h.refcountTableClusters, H.refcountTableClusters);
    raw.writeUInt32BE(h.nbSnapshots, H.nbSnapshots);
    writeU64(raw, H.snapshotsOffset, h.snapshotsOffset);
    if (h.version >= 3) {
      raw.writeUInt32BE(h.incompatible >>> 0, H.incompatibleFeatures + 4);
      raw.writeUInt32BE(h.autoclear >>> 0, H.autoclearFeatures + 4);
    }
    this.file.write(0, raw);
  }

  /** Marks the image corrupt on disk (best effort) and refuses the operation. */
  protected refuseMetadataCluster(c: number): void {
    const off = c * this.clusterSize;
    const h = this.header;
    const inRange = (start: number, bytes: number) => off >= start && off < start + bytes;
    if (
      c === 0 ||
      this.knownL2.has(off) ||
      inRange(h.l1TableOffset, h.l1Size * 8) ||
      inRange(this.refcounts!.tableOffset, this.refcounts!.tableClusters * this.clusterSize) ||
      (h.nbSnapshots > 0 && inRange(h.snapshotsOffset, this.clusterSize))
    ) {
      if (h.version >= 3) {
        h.incompatible |= INCOMPAT_CORRUPT;
        try {
          this.writeHeader();
          this.file.sync();
        } catch {
          /* the error below matters more */
        }
      }
      throw new ImageError(
        this.path,
        `refcounts say cluster ${c} is free but it holds metadata; image marked corrupt, run \`mvm image check -r all\``,
      );
    }
  }

  protected requireWritable(): void {
    if (this.readOnly) throw new ImageError(this.path, 'image is open read-only');
  }

  abstract writeSync(offset: number, data: Uint8Array): void;
  abstract flushSync(): void;
  abstract discardSync(offset: number, length: number): void;
  abstract writeZeroesSync(offset: number, length: number): void;
  abstract closeSync(): void;
}
