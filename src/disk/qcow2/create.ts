// Creating an empty qcow2 image: header, refcount table, refcount block(s)
// and an L1 table, in the order QEMU lays them out. The L1 table is left as a
// sparse hole, so an empty image of any size costs a few clusters.
import * as fs from 'node:fs';
import { ImageError } from '../errors.js';
import {
  COMPAT_LAZY_REFCOUNTS,
  DEFAULT_CLUSTER_BITS,
  DEFAULT_REFCOUNT_ORDER,
  H,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MAX_REFCOUNT_ORDER,
  MAX_SAFE_OFFSET,
  MIN_CLUSTER_BITS,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
} from './constants.js';
import { writeEntry, writeU64 } from './entries.js';
import type { Qcow2Header } from './header.js';
import { buildHeaderArea } from './header.js';
import { writeRefcount } from './refcount-width.js';

export interface CreateOptions {
  size: number;
  clusterBits?: number;
  refcountOrder?: number;
  version?: 2 | 3;
  lazyRefcounts?: boolean;
  backing?: { name: string; format?: string };
}

/** QEMU counts qcow2 sizes in 512-byte sectors (it drops a partial one), so sizes are rounded up to it. */
const SECTOR = 512;

export function createQcow2(path: string, opts: CreateOptions): void {
  const clusterBits = opts.clusterBits ?? DEFAULT_CLUSTER_BITS;
  const refcountOrder = opts.refcountOrder ?? DEFAULT_REFCOUNT_ORDER;
  const version = opts.version ?? 3;
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new ImageError(path, `cluster size must be a power of two between ${2 ** MIN_CLUSTER_BITS} and ${2 ** MAX_CLUSTER_BITS} bytes`);
  }
  if (refcountOrder > MAX_REFCOUNT_ORDER || (version === 2 && refcountOrder !== DEFAULT_REFCOUNT_ORDER)) {
    throw new ImageError(path, 'refcount width must be 1..64 bits (16 for version 2 images)');
  }
  if (opts.lazyRefcounts && version === 2) throw new ImageError(path, 'lazy refcounts need a version 3 image');
  if (!Number.isSafeInteger(opts.size) || opts.size < 0 || opts.size >= MAX_SAFE_OFFSET) throw new ImageError(path, 'invalid virtual size');
  const cs = 2 ** clusterBits;
  const size = Math.ceil(opts.size / SECTOR) * SECTOR;
  const l1Size = Math.ceil(size / (cs * (cs / 8)));
  if (l1Size * 8 > MAX_L1_BYTES) throw new ImageError(path, 'virtual size is too large for this cluster size');
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / cs));
  const perBlock = (cs * 8) >> refcountOrder;

  // Find how many refcount blocks and table clusters cover everything, including themselves.
  let blocks = 1,
    tableClusters = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters;
    const b = Math.ceil(total / perBlock);
    const t = Math.ceil((b * 8) / cs);
    if (b === blocks && t === tableClusters) break;
    blocks = b;
    tableClusters = t;
  }
  const tableAt = 1,
    blocksAt = tableAt + tableClusters,
    l1At = blocksAt + blocks;
  const used = l1At + l1Clusters;

  const raw = Buffer.alloc(version === 3 ? V3_HEADER_LENGTH : V2_HEADER_LENGTH);
  raw.writeUInt32BE(QCOW2_MAGIC, H.magic);
  raw.writeUInt32BE(version, H.version);
  raw.writeUInt32BE(clusterBits, H.clusterBits);
  writeU64(raw, H.size, size);
  raw.writeUInt32BE(l1Size, H.l1Size);
  writeU64(raw, H.l1TableOffset, l1At * cs);
  writeU64(raw, H.refcountTableOffset, tableAt * cs);
  raw.writeUInt32BE(tableClusters, H.refcountTableClusters);
  if (version === 3) {
    raw.writeUInt32BE(opts.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0, H.compatibleFeatures + 4);
    raw.writeUInt32BE(refcountOrder, H.refcountOrder);
    raw.writeUInt32BE(V3_HEADER_LENGTH, H.headerLength);
  }
  const header = { raw, extensions: [], clusterSize: cs } as unknown as Qcow2Header;
  const area = buildHeaderArea(path, header, opts.backing);

  // Header, refcount table and blocks go out in one write; the L1 table stays a hole.
  const meta = Buffer.alloc(l1At * cs);
  area.copy(meta, 0);
  for (let b = 0; b < blocks; b++) writeEntry(meta, tableAt * cs + b * 8, 0, (blocksAt + b) * cs);
  for (let c = 0; c < used; c++) {
    const b = Math.floor(c / perBlock);
    writeRefcount(meta.subarray((blocksAt + b) * cs, (blocksAt + b + 1) * cs), c % perBlock, refcountOrder, 1);
  }
  const fd = fs.openSync(path, 'w');
  try {
    fs.writeSync(fd, meta, 0, meta.length, 0);
    fs.ftruncateSync(fd, used * cs);
  } finally {
    fs.closeSync(fd);
  }
}

export function createRaw(path: string, size: number): void {
  const fd = fs.openSync(path, 'w');
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}
