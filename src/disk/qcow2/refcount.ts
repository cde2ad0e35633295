// The refcount structure of an open image: table and blocks cached in memory,
// cluster allocation, and table growth. Increments happen at once (and reach
// disk first on flush); decrements wait until the metadata that dropped the
// reference is durable, so the on-disk refcount never falls below the real
// number of references — a crash can only leak clusters.
import { ImageError } from '../errors.js';
import { MAX_REFTABLE_BYTES, REFTABLE_HI_INVALID, REFTABLE_LO_RESERVED } from './constants.js';
import { entryOffset, writeEntry } from './entries.js';
import type { ImageFile } from './file-io.js';
import { maxRefcount, readRefcount, writeRefcount } from './refcount-width.js';

export interface RefcountGeometry {
  clusterBits: number;
  refcountOrder: number;
  tableOffset: number;
  tableClusters: number;
}

export class Refcounts {
  private readonly clusterSize: number;
  private readonly entriesPerBlock: number;
  private readonly max: number;
  /** Block offset per table entry (0 = no block: all refcounts zero). */
  private table: number[] = [];
  private readonly blocks = new Map<number, Buffer>();
  private readonly dirtyBlocks = new Set<number>();
  private readonly dirtyTableEntries = new Set<number>();
  private pendingDecrements: number[] = [];
  /** Allocation starts scanning here; never goes below cluster 1 (cluster 0 is the header). */
  private hint = 1;
  tableOffset: number;
  tableClusters: number;
  /** The table was moved and the header must be updated to point at it. */
  tableMoved = false;
  /** Called before handing out a cluster, to refuse one that holds metadata. */
  guard: (cluster: number) => void = () => {};

  constructor(
    private readonly file: ImageFile,
    private readonly geo: RefcountGeometry,
  ) {
    this.clusterSize = 2 ** geo.clusterBits;
    this.entriesPerBlock = (this.clusterSize * 8) >> geo.refcountOrder;
    this.max = maxRefcount(geo.refcountOrder);
    this.tableOffset = geo.tableOffset;
    this.tableClusters = geo.tableClusters;
    const raw = file.readMeta(geo.tableOffset, geo.tableClusters * this.clusterSize, 'refcount table');
    for (let i = 0; i < raw.length; i += 8) {
      // A damaged entry would make its clusters look free; refuse rather than allocate over live data.
      if (raw.readUInt32BE(i) & REFTABLE_HI_INVALID || raw.readUInt32BE(i + 4) & REFTABLE_LO_RESERVED) {
        throw new ImageError(file.path, `refcount table entry ${i / 8} is invalid; repair the image with \`mvm image check -r all\``);
      }
      this.table.push(entryOffset(raw, i));
    }
  }

  get blockOffsets(): readonly number[] {
    return this.table;
  }

  get(cluster: number): number {
    const bi = Math.floor(cluster / this.entriesPerBlock);
    if (bi >= this.table.length || this.table[bi] === 0) return 0;
    return readRefcount(this.block(bi), cluster % this.entriesPerBlock, this.geo.refcountOrder);
  }

  /** Adds `by` references to a cluster (negative only from applyDecrements/repair). */
  add(cluster: number, by: number): void {
    const next = this.get(cluster) + by;
    if (next < 0) throw new ImageError(this.file.path, `refcount of cluster ${cluster} would drop below zero (image is corrupt)`);
    if (next > this.max)
      throw new ImageError(this.file.path, `refcount of cluster ${cluster} would overflow its ${1 << this.geo.refcountOrder}-bit width`);
    this.set(cluster, next);
  }

  /** Drops one reference once the metadata that stopped using the cluster is on disk. */
  decrementLater(cluster: number): void {
    this.pendingDecrements.push(cluster);
  }

  /** Drops references to every cluster touched by [offset, offset+length). */
  decrementRangeLater(offset: number, length: number): void {
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) this.decrementLater(c);
  }

  get hasPendingDecrements(): boolean {
    return this.pendingDecrements.length > 0;
  }

  /** Finds `count` contiguous free clusters, marks them used, returns the first. */
  allocate(count: number): number {
    const start = this.findFreeRun(count);
    for (let c = start; c < start + count; c++) this.set(c, 1);
    return start;
  }

  private findFreeRun(count: number): number {
    let start = this.hint;
    let c = start;
    while (c < start + count) {
      if (this.get(c) !== 0) start = c + 1;
      c++;
    }
    for (let i = start; i < start + count; i++) this.guard(i);
    this.hint = start + count;
    return start;
  }

  private set(cluster: number, value: number): void {
    const bi = Math.floor(cluster / this.entriesPerBlock);
    if (value === 0 && (bi >= this.table.length || this.table[bi] === 0)) return;
    if (bi >= this.table.length) this.growTable(bi);
    if (this.table[bi] === 0) this.newBlock(bi);
    writeRefcount(this.block(bi), cluster % this.entriesPerBlock, this.geo.refcountOrder, value);
    this.dirtyBlocks.add(bi);
  }

  private newBlock(bi: number): void {
    const at = this.findFreeRun(1);
    this.table[bi] = at * this.clusterSize;
    this.blocks.set(bi, Buffer.alloc(this.clusterSize));
    this.dirtyBlocks.add(bi);
    this.dirtyTableEntries.add(bi);
    this.set(at, 1); // the block may describe itself, or need another block (the recursion ends: blocks cover many clusters)
  }

  /** Moves the table to a larger place; the header is updated on flush, the old table freed after. */
  private growTable(neededIndex: number): void {
    const perCluster = this.clusterSize / 8;
    const clusters = Math.max(this.tableClusters * 2, Math.ceil((neededIndex + 1) / perCluster) + 1);
    if (clusters * this.clusterSize > MAX_REFTABLE_BYTES) {
      throw new ImageError(this.file.path, 'image is too large: the refcount table would exceed its size limit');
    }
    const oldOffset = this.tableOffset,
      oldClusters = this.tableClusters;
    while (this.table.length < clusters * perCluster) this.table.push(0);
    this.tableClusters = clusters;
    this.tableOffset = this.allocate(clusters) * this.clusterSize;
    this.tableMoved = true;
    for (let c = 0; c < oldClusters; c++) this.decrementLater(oldOffset / this.clusterSize + c);
  }

  private block(bi: number): Buffer {
    let b = this.blocks.get(bi);
    if (!b) {
      const off = this.table[bi]!;
      if (off % this.clusterSize !== 0 || off < this.clusterSize) {
        throw new ImageError(this.file.path, `refcount block ${bi} has invalid offset ${off}`);
      }
      b = this.file.readMeta(off, this.clusterSize, `refcount block ${bi}`);
      this.blocks.set(bi, b);
    }
    return b;
  }

  get dirty(): boolean {
    return this.dirtyBlocks.size > 0 || this.dirtyTableEntries.size > 0 || this.tableMoved;
  }

  /** Writes changed blocks, then the table entries that point at new blocks. Caller syncs. */
  writeOut(syncBetween: () => void): void {
    for (const bi of this.dirtyBlocks) this.file.write(this.table[bi]!, this.blocks.get(bi)!);
    this.dirtyBlocks.clear();
    if (this.dirtyTableEntries.size === 0 && !this.tableMoved) return;
    syncBetween(); // blocks are on disk before anything points at them
    if (this.tableMoved) {
      const buf = Buffer.alloc(this.tableClusters * this.clusterSize);
      this.table.forEach((off, i) => {
        if (off) writeEntry(buf, i * 8, 0, off);
      });
      this.file.write(this.tableOffset, buf);
    } else {
      const entry = Buffer.alloc(8);
      for (const i of this.dirtyTableEntries) {
        writeEntry(entry, 0, 0, this.table[i]!);
        this.file.write(this.tableOffset + i * 8, entry);
      }
    }
    this.dirtyTableEntries.clear();
  }

  /** Applies the deferred decrements (the references are gone on disk by now). */
  applyDecrements(): void {
    const pending = this.pendingDecrements;
    this.pendingDecrements = [];
    for (const c of pending) {
      this.add(c, -1);
      if (this.get(c) === 0 && c < this.hint && c > 0) this.hint = c;
    }
  }
}
