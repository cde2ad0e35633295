// Writing a brand-new qcow2 image front to back, for `mvm image convert`:
// data clusters are handed out one after another from cluster 1 (so a run of
// guest clusters is one host write), the L2 tables live in memory, and every
// piece of metadata (L2 tables, L1, refcount table and blocks, all counted
// exactly once) is appended after the data when the copy ends. No per-cluster
// allocation, no refcount updates while copying.
//
// The header goes to cluster 0 last: until then the file starts with zeros and
// is not a qcow2 image at all, so an interrupted convert can never leave a file
// that looks like a valid but incomplete image.
import * as fs from 'node:fs';
import { ImageError } from '../errors.js';
import { DEFAULT_CLUSTER_BITS, H, HI_COPIED } from './constants.js';
import { createQcow2 } from './create.js';
import { readU64, writeEntry, writeU64 } from './entries.js';
import { writeRefcount } from './refcount-width.js';

export interface StreamWriterOptions {
  size: number;
  clusterBits?: number;
}

/** The header area (header + extensions) of an image without backing file fits in cluster 0. */
const HEADER_CLUSTER = 0;
/** Data clusters start right after the header. */
const FIRST_DATA_CLUSTER = 1;
/** Bytes per L1/L2/refcount-table entry. */
const ENTRY_BYTES = 8;

export class Qcow2StreamWriter {
  readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly l1Size: number;
  private readonly refcountOrder: number;
  /** The header area createQcow2 produced; its table pointers are rewritten at the end. */
  private readonly headerArea: Buffer;
  /** L2 tables by L1 index, made when the first cluster they map is written. */
  private readonly l2Tables = new Map<number, Buffer>();
  private nextCluster = FIRST_DATA_CLUSTER;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly size: number,
    clusterBits: number,
    refcountOrder: number,
    headerArea: Buffer,
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.l2Entries = this.clusterSize / ENTRY_BYTES;
    this.l1Size = Math.ceil(size / (this.clusterSize * this.l2Entries));
    this.refcountOrder = refcountOrder;
    this.headerArea = headerArea;
  }

  /**
   * Creates `path` through createQcow2 (so sizes and cluster sizes are checked
   * and the header is built exactly as `mvm image create` builds it), keeps
   * its header, and wipes it until finishSync.
   */
  static create(path: string, opts: StreamWriterOptions): Qcow2StreamWriter {
    createQcow2(path, { size: opts.size, clusterBits: opts.clusterBits });
    const fd = fs.openSync(path, 'r+');
    try {
      // createQcow2 wrote a v3 header for exactly these options; its header area fills at most cluster 0.
      const clusterBits = opts.clusterBits ?? DEFAULT_CLUSTER_BITS;
      const area = Buffer.alloc(2 ** clusterBits);
      fs.readSync(fd, area, 0, area.length, 0);
      const size = readU64(area, H.size) ?? 0;
      const refcountOrder = area.readUInt32BE(H.refcountOrder);
      // Wipe the header rather than truncating to 0: ext4 flushes a file truncated to 0 when it is closed
      // (auto_da_alloc), which cost ~0.2 s per 512 MiB. Every later cluster is overwritten by data or metadata.
      fs.writeSync(fd, Buffer.alloc(area.length), 0, area.length, 0);
      return new Qcow2StreamWriter(path, fd, size, clusterBits, refcountOrder, area);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  get fileDescriptor(): number {
    return this.fd;
  }

  /**
   * Reserves host clusters for `length` bytes of guest data at the
   * cluster-aligned `guest` offset and returns the host offset to write them
   * to (contiguous). Called in any order, at most once per guest cluster.
   */
  place(guest: number, length: number): number {
    const cs = this.clusterSize;
    if (guest % cs !== 0 || length <= 0 || guest + length > Math.ceil(this.size / cs) * cs) {
      throw new RangeError(`${this.path}: cannot place ${length} bytes at guest offset ${guest}`);
    }
    const host = this.nextCluster * cs;
    const clusters = Math.ceil(length / cs);
    for (let i = 0; i < clusters; i++) {
      const ci = guest / cs + i;
      const l1i = Math.floor(ci / this.l2Entries);
      let l2 = this.l2Tables.get(l1i);
      if (!l2) {
        l2 = Buffer.alloc(cs);
        this.l2Tables.set(l1i, l2);
      }
      const at = (ci % this.l2Entries) * ENTRY_BYTES;
      if (l2.readUInt32BE(at) !== 0 || l2.readUInt32BE(at + 4) !== 0) throw new RangeError(`${this.path}: guest cluster ${ci} placed twice`);
      writeEntry(l2, at, HI_COPIED, (this.nextCluster + i) * cs);
    }
    this.nextCluster += clusters;
    return host;
  }

  /**
   * Appends the metadata after the data and then writes the header: the
   * image exists from this moment on. Every data write must have completed.
   */
  finishSync(): void {
    const cs = this.clusterSize;
    const l1Clusters = Math.max(1, Math.ceil((this.l1Size * ENTRY_BYTES) / cs));
    const l2Count = this.l2Tables.size;
    const perBlock = (cs * 8) >> this.refcountOrder;
    const fixed = this.nextCluster + l2Count + l1Clusters;
    // The refcount blocks and table count themselves: grow both until they cover everything.
    let blocks = 1,
      tableClusters = 1;
    for (;;) {
      const b = Math.ceil((fixed + tableClusters + blocks) / perBlock);
      const t = Math.ceil((b * ENTRY_BYTES) / cs);
      if (b === blocks && t === tableClusters) break;
      blocks = b;
      tableClusters = t;
    }
    const l2At = this.nextCluster,
      l1At = l2At + l2Count,
      tableAt = l1At + l1Clusters,
      blocksAt = tableAt + tableClusters;
    const total = blocksAt + blocks;

    const l1 = Buffer.alloc(l1Clusters * cs);
    const indices = [...this.l2Tables.keys()].sort((a, b) => a - b);
    indices.forEach((l1i, k) => {
      writeEntry(l1, l1i * ENTRY_BYTES, HI_COPIED, (l2At + k) * cs);
      this.writeAt(this.l2Tables.get(l1i)!, (l2At + k) * cs);
    });
    this.writeAt(l1, l1At * cs);

    const refs = Buffer.alloc((tableClusters + blocks) * cs);
    for (let b = 0; b < blocks; b++) writeEntry(refs, b * ENTRY_BYTES, 0, (blocksAt + b) * cs);
    for (let c = 0; c < total; c++) {
      const start = (tableClusters + Math.floor(c / perBlock)) * cs;
      writeRefcount(refs.subarray(start, start + cs), c % perBlock, this.refcountOrder, 1);
    }
    this.writeAt(refs, tableAt * cs);
    fs.ftruncateSync(this.fd, total * cs);

    const header = Buffer.from(this.headerArea);
    writeU64(header, H.l1TableOffset, l1At * cs);
    writeU64(header, H.refcountTableOffset, tableAt * cs);
    header.writeUInt32BE(tableClusters, H.refcountTableClusters);
    this.writeAt(header, HEADER_CLUSTER * cs);
  }

  closeSync(): void {
    fs.closeSync(this.fd);
  }

  private writeAt(data: Buffer, offset: number): void {
    let done = 0;
    while (done < data.length) {
      const n = fs.writeSync(this.fd, data, done, data.length - done, offset + done);
      if (n <= 0) throw new ImageError(this.path, `short write at offset ${offset + done}`);
      done += n;
    }
  }
}
