// A qcow2 image open for use: opening (with the backing chain and dirty-image
// repair) and the write path — allocation, copy-on-write, discard,
// write-zeroes — with metadata written on flush in an order that can only leak
// clusters if the process dies. The read path lives in layer.ts.
import { checkRange } from '../backend.js';
import { ChainGuard, resolveBackingName } from '../backing-name.js';
import { ImageError } from '../errors.js';
import { openChainMember } from '../open.js';
import { HI_COPIED, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTL2, LO_ZERO } from './constants.js';
import { COMPRESSION_ZSTD, decodeCompressed, encodeCompressed } from './compressed.js';
import { entryOffset, writeEntry } from './entries.js';
import { checkImage } from './check.js';
import { ImageFile } from './file-io.js';
import type { Qcow2Header } from './header.js';
import { headerProbeLength, parseHeader } from './header.js';
import type { Qcow2OpenOptions } from './layer.js';
import { Qcow2Layer } from './layer.js';
import type { Mapping } from './mapping.js';
import { isCopied, Kind } from './mapping.js';
import { maxRefcount } from './refcount-width.js';

export type { Qcow2OpenOptions } from './layer.js';

/** Largest run of fresh clusters written with one system call (writes of 2 MiB and more measured slower here). */
const MAX_WRITE_RUN_BYTES = 1 << 20;

export class Qcow2Image extends Qcow2Layer {
  private constructor(path: string, file: ImageFile, header: Qcow2Header, readOnly: boolean, opts: Qcow2OpenOptions) {
    super(path, file, header, readOnly, opts);
  }

  static open(path: string, opts: Qcow2OpenOptions): Qcow2Image {
    const file = ImageFile.open(path, opts.readOnly);
    if (opts.noSync) file.durable = false;
    let image: Qcow2Image | undefined;
    try {
      const chain = opts.chain ?? new ChainGuard();
      chain.enter(path, file.fd, path);
      const header = parseHeader(path, file.readMeta(0, headerProbeLength(file.length), 'header'), file.length);
      if (!opts.readOnly) {
        if (header.incompatible & INCOMPAT_CORRUPT) throw new ImageError(path, 'image is marked corrupt; repair it with `mvm image check -r all`');
        if (header.incompatible & INCOMPAT_EXTL2)
          throw new ImageError(path, 'writing images with extended L2 entries is not supported (read-only works)');
        if (header.incompatible & INCOMPAT_DIRTY && !opts.noRepair) {
          // Lazy refcounts were left stale by a crash: rebuild them, then open again.
          file.close();
          const result = checkImage(path, 'all');
          if (result.corruptions > 0) throw new ImageError(path, 'image was not closed cleanly and its refcounts could not be repaired');
          return Qcow2Image.open(path, { ...opts, noRepair: true });
        }
      }
      image = new Qcow2Image(path, file, header, opts.readOnly, opts);
      if (header.backingFile !== undefined && !opts.skipBacking) {
        const target = resolveBackingName(path, header.backingFile);
        image.backing = openChainMember(target, header.backingFormat, chain, path);
      }
      if (!opts.readOnly && header.autoclear !== 0) {
        // mvm keeps none of the structures autoclear bits vouch for (bitmaps, raw data file).
        header.autoclear = 0;
        image.writeHeader();
        file.sync();
      }
      return image;
    } catch (err) {
      image?.backing?.closeSync();
      file.close();
      throw err;
    }
  }

  // ---- write path --------------------------------------------------------

  writeSync(offset: number, data: Uint8Array): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, data.length);
    const cs = this.clusterSize;
    const len = data.length;
    let pos = 0;
    while (pos < len) {
      const g = offset + pos;
      const inCluster = g % cs;
      let n = Math.min(cs - inCluster, len - pos);
      const m = this.mapGuest(g);
      if (m.kind === Kind.Data && isCopied(m)) {
        while (pos + n < len) {
          // extend over clusters we own that follow on disk
          const next = this.mapGuest(g + n);
          if (next.kind !== Kind.Data || !isCopied(next) || next.host !== m.host + n) break;
          n += Math.min(cs, len - pos - n);
        }
        // A lying entry must not make us write far past the image (a huge sparse file) or into metadata.
        if (m.host + n > this.file.length) throw new ImageError(this.path, `L2 entry for guest offset ${g} points beyond the end of the file`);
        this.file.write(m.host, data, pos, n);
      } else if (inCluster !== 0 || n < cs) {
        this.writeNewPartial(g, data.subarray(pos, pos + n), m);
      } else {
        n = this.writeNewFull(g, data, pos, m);
      }
      pos += n;
    }
  }

  /** One new cluster holding old head + new data + old tail, written at once. */
  private writeNewPartial(g: number, part: Uint8Array, old: Mapping): void {
    const cs = this.clusterSize;
    const start = g - (g % cs);
    const cluster = Buffer.alloc(cs);
    this.readSync(start, cluster.subarray(0, Math.min(cs, this.size - start)));
    cluster.set(part, g - start);
    const { l2, l2off } = this.writableL2(Math.floor(start / cs / this.l2Entries));
    const host = this.refcounts!.allocate(1) * cs;
    this.file.write(host, cluster);
    this.setEntry(l2, l2off, start / cs, host, old);
  }

  /** Whole new clusters; consecutive ones in the same L2 table share one allocation and one write. */
  private writeNewFull(g: number, data: Uint8Array, pos: number, first: Mapping): number {
    const cs = this.clusterSize;
    const ci = g / cs;
    const l1i = Math.floor(ci / this.l2Entries);
    const olds = [first];
    const maxRun = Math.max(1, MAX_WRITE_RUN_BYTES / cs);
    while (olds.length < maxRun && pos + (olds.length + 1) * cs <= data.length) {
      const c = ci + olds.length;
      if (Math.floor(c / this.l2Entries) !== l1i) break;
      const m = this.mapGuest(c * cs);
      if (m.kind === Kind.Data && isCopied(m)) break;
      olds.push(m);
    }
    const { l2, l2off } = this.writableL2(l1i);
    const host = this.refcounts!.allocate(olds.length) * cs;
    this.file.write(host, data, pos, olds.length * cs);
    olds.forEach((old, j) => {
      this.setEntry(l2, l2off, ci + j, host + j * cs, old);
    });
    return olds.length * cs;
  }

  /** Points cluster `ci` at `host` (or at nothing / zeros) and releases what it used. */
  private setEntry(l2: Buffer, l2off: number, ci: number, host: number, old: Mapping, zero = false): void {
    this.release(old);
    writeEntry(l2, (ci % this.l2Entries) * this.entryBytes, host ? HI_COPIED : 0, host, zero ? LO_ZERO : 0);
    this.cache.put(l2off, l2);
  }

  /** Drops this layer's reference to the cluster behind a mapping (deferred until flush). */
  private release(m: Mapping): void {
    const rc = this.refcounts!;
    if (m.kind === Kind.Compressed) {
      const ext = decodeCompressed(m.hi, m.lo, this.clusterBits);
      rc.decrementRangeLater(ext.offset, ext.length);
    } else if ((m.kind === Kind.Data || m.kind === Kind.Zero) && m.host !== 0) {
      rc.decrementLater(Math.floor(m.host / this.clusterSize));
    }
  }

  /** The L2 table for L1 index `l1i`, allocated or copied (if shared) as needed. */
  writableL2(l1i: number): { l2: Buffer; l2off: number } {
    const at = l1i * 8;
    const off = entryOffset(this.l1, at);
    if (off !== 0 && this.l1.readUInt32BE(at) & HI_COPIED) return { l2: this.cache.get(off), l2off: off };
    const l2 = off === 0 ? Buffer.alloc(this.clusterSize) : Buffer.from(this.cache.get(off));
    const l2off = this.refcounts!.allocate(1) * this.clusterSize;
    this.knownL2.add(l2off);
    this.cache.put(l2off, l2);
    writeEntry(this.l1, at, HI_COPIED, l2off);
    this.l1Offsets[l1i] = l2off;
    this.l1Dirty.add(l1i);
    if (off !== 0) {
      this.knownL2.delete(off); // no longer ours: once a deleted snapshot frees it, it may be reused
      this.refcounts!.decrementLater(off / this.clusterSize);
    }
    return { l2, l2off };
  }

  /** A host cluster holding this many compressed clusters cannot take another (narrow refcounts). */
  private get maxRefcount(): number {
    return maxRefcount(this.header.refcountOrder);
  }

  /** Where the next compressed cluster's bytes go (compressed clusters are packed byte-wise). */
  private compressCursor = 0;

  /** Stores an already deflated cluster as cluster `ci` (convert -c writes whole clusters once). */
  writeCompressedSync(ci: number, deflated: Buffer): void {
    this.requireWritable();
    // Only convert -c writes compressed clusters, into a new (deflate) image.
    if (this.header.compressionType === COMPRESSION_ZSTD)
      throw new ImageError(this.path, 'writing compressed clusters into a zstd-compressed image is not supported');
    const cs = this.clusterSize;
    if (deflated.length >= cs) throw new Error('compressed cluster must be smaller than a cluster');
    const old = this.mapGuest(ci * cs);
    const { l2, l2off } = this.writableL2(Math.floor(ci / this.l2Entries));
    let at = this.compressCursor;
    // Pack into the current cluster when it fits (each user adds a reference), else start a new one.
    const full = at % cs === 0 || (at % cs) + deflated.length > cs || this.refcounts!.get(Math.floor(at / cs)) >= this.maxRefcount;
    if (full) at = this.refcounts!.allocate(1) * cs;
    else this.refcounts!.add(Math.floor(at / cs), 1);
    this.file.write(at, deflated);
    this.compressCursor = at + deflated.length;
    this.release(old);
    const { hi, lo } = encodeCompressed(at, deflated.length, this.clusterBits);
    const e = (ci % this.l2Entries) * this.entryBytes;
    l2.writeUInt32BE(hi, e);
    l2.writeUInt32BE(lo, e + 4);
    this.cache.put(l2off, l2);
  }

  discardSync(offset: number, length: number): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, length);
    // A discarded cluster must not expose old backing data: v3 marks it zero,
    // v2 has no zero flag, so there (like QEMU) discard does nothing.
    if (this.backing && this.version < 3) return;
    const zero = this.backing !== undefined;
    this.forWholeClusters(offset, length, (ci, m) => {
      if (m.kind === Kind.Unallocated && !zero) return;
      if (m.kind === Kind.Zero && m.host === 0) return;
      this.clearCluster(ci, m, zero);
    });
  }

  /** Makes whole clusters of this layer unallocated again, so they read from the backing file. */
  deallocateSync(offset: number, length: number): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, length);
    this.forWholeClusters(offset, length, (ci, m) => {
      if (m.kind !== Kind.Unallocated) this.clearCluster(ci, m, false);
    });
  }

  writeZeroesSync(offset: number, length: number): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, length);
    const cs = this.clusterSize;
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const ci = Math.floor(pos / cs);
      const clusterEnd = Math.min((ci + 1) * cs, this.size);
      const n = Math.min(clusterEnd, end) - pos;
      const m = this.mapGuest(ci * cs);
      const readsZero = (m.kind === Kind.Unallocated && !this.backing) || m.kind === Kind.Zero;
      if (!readsZero) {
        const whole = pos === ci * cs && n === clusterEnd - ci * cs;
        if (whole && this.version >= 3) this.clearCluster(ci, m, true);
        else if (whole && !this.backing) this.clearCluster(ci, m, false);
        else this.writeSync(pos, Buffer.alloc(n));
      }
      pos += n;
    }
  }

  private clearCluster(ci: number, m: Mapping, zero: boolean): void {
    const { l2, l2off } = this.writableL2(Math.floor(ci / this.l2Entries));
    // Re-map: making the L2 table writable may have copied it, but entries are the same.
    this.setEntry(l2, l2off, ci, 0, m, zero);
  }

  private forWholeClusters(offset: number, length: number, fn: (ci: number, m: Mapping) => void): void {
    const cs = this.clusterSize;
    const end = offset + length;
    for (let ci = Math.ceil(offset / cs); ci * cs < end; ci++) {
      if (Math.min((ci + 1) * cs, this.size) > end) break;
      fn(ci, this.mapGuest(ci * cs));
    }
  }

  // ---- metadata durability ----------------------------------------------

  private dirtyBitSet = false;

  /** With lazy refcounts, the dirty bit must be on disk before the first allocation reaches it. */
  private beforeMetadataChange(): void {
    if (!this.lazyRefcounts || this.dirtyBitSet) return;
    this.header.incompatible |= INCOMPAT_DIRTY;
    this.writeHeader();
    this.file.sync();
    this.dirtyBitSet = true;
  }

  flushSync(): void {
    if (this.readOnly || this.closed) return;
    const rc = this.refcounts!;
    const lazy = this.lazyRefcounts;
    if (!rc.dirty && !this.cache.dirty && this.l1Dirty.size === 0 && !rc.hasPendingDecrements) {
      this.file.sync();
      return;
    }
    if (lazy) this.beforeMetadataChange();
    if (!lazy) rc.writeOut(() => this.file.sync());
    this.file.sync(); // data and refcounts are durable before any table points at them
    if (!lazy && rc.tableMoved) {
      this.writeHeader();
      this.file.sync();
      rc.tableMoved = false;
    }
    if (this.cache.dirty) {
      this.cache.writeOut();
      this.file.sync(); // L2 tables before the L1 entries that point at them
    }
    if (this.l1Dirty.size) {
      for (const i of this.l1Dirty) this.file.write(this.header.l1TableOffset + i * 8, this.l1, i * 8, 8);
      this.l1Dirty.clear();
      this.file.sync();
    }
    if (rc.hasPendingDecrements) {
      rc.applyDecrements(); // nothing on disk references these clusters any more
      if (!lazy) {
        rc.writeOut(() => this.file.sync());
        this.file.sync();
      }
    }
  }

  closeSync(): void {
    if (this.closed) return;
    try {
      if (!this.readOnly) {
        this.flushSync();
        if (this.dirtyBitSet) {
          // Lazy refcounts: write them all, then clear the dirty bit.
          const rc = this.refcounts!;
          rc.writeOut(() => this.file.sync());
          this.file.sync();
          rc.tableMoved = false;
          this.header.incompatible &= ~INCOMPAT_DIRTY;
          this.writeHeader();
          this.file.sync();
        }
      }
    } finally {
      this.closed = true;
      this.backing?.closeSync();
      this.file.close();
    }
  }
}
