// `mvm image check`: compares the refcounts stored in an image with the
// references that really exist, and repairs leaks (-r leaks) or rebuilds the
// whole refcount structure and the COPIED flags (-r all).
import { ImageError } from '../errors.js';
import { H, HI_COPIED, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, MAX_REFTABLE_BYTES } from './constants.js';
import { entryOffset, writeEntry, writeU64 } from './entries.js';
import { ImageFile } from './file-io.js';
import type { Qcow2Header } from './header.js';
import { headerProbeLength, parseHeader } from './header.js';
import { countReferences } from './check-refs.js';
import type { References } from './check-refs.js';
import { maxRefcount, readRefcount, writeRefcount } from './refcount-width.js';

export type RepairMode = 'none' | 'leaks' | 'all';

export interface CheckResult {
  corruptions: number;
  leaks: number;
  /** Problems found, one line each (capped). */
  messages: string[];
  repairedLeaks: number;
  repairedCorruptions: number;
  allocatedClusters: number;
  totalClusters: number;
  imageEndOffset: number;
}

/** Most problem lines kept for the report; the counts stay exact. */
const MAX_MESSAGES = 50;

interface Comparison {
  refs: References;
  leaks: number[];
  /** Stored refcount of each leaked cluster, for the report. */
  leakedStored: Map<number, number>;
  errors: string[];
}

function readHeader(file: ImageFile): Qcow2Header {
  return parseHeader(file.path, file.readMeta(0, headerProbeLength(file.length), 'header'), file.length);
}

/** Stored refcount of every cluster in the file; undefined where the block is unreadable. */
function storedRefcounts(file: ImageFile, h: Qcow2Header, errors: string[]): (n: number) => number | undefined {
  const cs = h.clusterSize;
  const perBlock = (cs * 8) >> h.refcountOrder;
  const table = file.readMeta(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  const blocks = new Map<number, Buffer | null>();
  return (c: number) => {
    const bi = Math.floor(c / perBlock);
    if (bi * 8 >= table.length) return 0;
    let block = blocks.get(bi);
    if (block === undefined) {
      const off = entryOffset(table, bi * 8);
      if (off === 0) block = null;
      else if (off % cs !== 0 || off < cs || off + cs > file.length) {
        errors.push(`refcount block ${bi} at offset ${off} is invalid`);
        block = null;
        blocks.set(bi, block);
        return undefined;
      } else block = file.readMeta(off, cs, 'refcount block');
      blocks.set(bi, block);
    }
    if (block === null) return entryOffset(table, bi * 8) === 0 ? 0 : undefined;
    return readRefcount(block, c % perBlock, h.refcountOrder);
  };
}

function compare(file: ImageFile, h: Qcow2Header): Comparison {
  const refs = countReferences(file, h);
  const errors = [...refs.corruptions];
  const leaks: number[] = [];
  const leakedStored = new Map<number, number>();
  const stored = storedRefcounts(file, h, errors);
  for (let c = 0; c < refs.clusters; c++) {
    const have = stored(c),
      want = refs.counts[c]!;
    if (have === undefined) {
      if (want > 0) errors.push(`cluster ${c} has no readable refcount but ${want} references`);
      continue;
    }
    if (have < want) errors.push(`ERROR cluster ${c} refcount=${have} reference=${want}`);
    else if (have > want) {
      leaks.push(c);
      leakedStored.set(c, have);
    }
  }
  for (const chk of refs.copiedChecks) {
    if (chk.copied !== (refs.counts[chk.target] === 1)) {
      errors.push(
        `${chk.table === h.l1TableOffset ? 'L1' : 'L2'} entry ${chk.index} of table at ${chk.table}: COPIED flag does not match refcount ${refs.counts[chk.target]}`,
      );
    }
  }
  return { refs, leaks, leakedStored, errors };
}

export function checkImage(path: string, repair: RepairMode = 'none'): CheckResult {
  const file = ImageFile.open(path, repair === 'none');
  try {
    let h = readHeader(file);
    let cmp = compare(file, h);
    let repairedLeaks = 0,
      repairedCorruptions = 0;
    if (repair === 'all' && (cmp.errors.length > 0 || cmp.leaks.length > 0 || h.incompatible & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT))) {
      fixEntries(file, cmp.refs);
      rebuildRefcounts(file, h, countReferences(file, h, false));
      repairedLeaks = cmp.leaks.length;
      repairedCorruptions = cmp.errors.length;
      h = readHeader(file);
      cmp = compare(file, h);
    } else if (repair === 'leaks' && cmp.leaks.length > 0) {
      repairedLeaks = fixLeaks(file, h, cmp);
      cmp = compare(file, h);
    }
    const allocated = cmp.refs.counts.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
    return {
      corruptions: cmp.errors.length,
      leaks: cmp.leaks.length,
      messages: [
        ...cmp.errors,
        ...cmp.leaks.map((c) => `Leaked cluster ${c} refcount=${cmp.leakedStored.get(c)} reference=${cmp.refs.counts[c]}`),
      ].slice(0, MAX_MESSAGES),
      repairedLeaks,
      repairedCorruptions,
      allocatedClusters: allocated,
      totalClusters: Math.ceil(h.size / h.clusterSize),
      imageEndOffset: file.length,
    };
  } finally {
    file.close();
  }
}

/** Lowers each leaked cluster's refcount to its real reference count, in place. */
function fixLeaks(file: ImageFile, h: Qcow2Header, cmp: Comparison): number {
  const cs = h.clusterSize;
  const perBlock = (cs * 8) >> h.refcountOrder;
  const table = file.readMeta(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  const dirty = new Map<number, Buffer>();
  for (const c of cmp.leaks) {
    const bi = Math.floor(c / perBlock);
    const off = entryOffset(table, bi * 8);
    let block = dirty.get(off);
    if (!block) {
      block = file.readMeta(off, cs, 'refcount block');
      dirty.set(off, block);
    }
    writeRefcount(block, c % perBlock, h.refcountOrder, cmp.refs.counts[c]!);
  }
  for (const [off, block] of dirty) file.write(off, block);
  file.sync();
  return cmp.leaks.length;
}

/** Clears active entries that point outside the file and sets COPIED flags from real counts. */
function fixEntries(file: ImageFile, refs: References): void {
  const zero = Buffer.alloc(8);
  for (const r of refs.reservedBits) {
    const entry = file.readMeta(r.at, 8, 'table entry');
    entry.writeUInt32BE((entry.readUInt32BE(0) & ~r.hiMask) >>> 0, 0);
    entry.writeUInt32BE((entry.readUInt32BE(4) & ~r.loMask) >>> 0, 4);
    file.write(r.at, entry);
  }
  for (const bad of refs.badEntries) file.write(bad.table + bad.index * 8, zero);
  for (const chk of refs.copiedChecks) {
    if (chk.copied === (refs.counts[chk.target] === 1)) continue;
    const at = chk.table + chk.index * 8;
    const entry = file.readMeta(at, 8, 'table entry');
    const hi = entry.readUInt32BE(0);
    const want = refs.counts[chk.target] === 1 ? (hi | HI_COPIED) >>> 0 : (hi & ~HI_COPIED) >>> 0;
    if (want !== hi) {
      entry.writeUInt32BE(want, 0);
      file.write(at, entry);
    }
  }
  file.sync();
}

/**
 * Writes a brand-new refcount table and blocks after the end of the file,
 * describing the counted references plus themselves, then points the header
 * at them. The old structure simply becomes free space.
 */
function rebuildRefcounts(file: ImageFile, h: Qcow2Header, refs: References): void {
  const cs = h.clusterSize;
  const perBlock = (cs * 8) >> h.refcountOrder;
  const start = refs.clusters;
  let blocks = 0,
    tableClusters = 0;
  for (;;) {
    const b = Math.ceil((start + blocks + tableClusters) / perBlock);
    const t = Math.ceil((b * 8) / cs);
    if (b === blocks && t === tableClusters) break;
    blocks = b;
    tableClusters = t;
  }
  if (tableClusters * cs > MAX_REFTABLE_BYTES) throw new ImageError(file.path, 'image too large to rebuild its refcount table');
  const max = maxRefcount(h.refcountOrder);
  const buf = Buffer.alloc((blocks + tableClusters) * cs);
  const count = (c: number) => (c < start ? refs.counts[c]! : 1);
  for (let c = 0; c < start + blocks + tableClusters; c++) {
    const v = count(c);
    if (v === 0) continue;
    if (v > max) throw new ImageError(file.path, `cluster ${c} has ${v} references, more than the refcount width holds`);
    const b = Math.floor(c / perBlock);
    writeRefcount(buf.subarray(b * cs, (b + 1) * cs), c % perBlock, h.refcountOrder, v);
  }
  for (let b = 0; b < blocks; b++) writeEntry(buf, blocks * cs + b * 8, 0, (start + b) * cs);
  file.write(start * cs, buf);
  file.sync();
  const raw = h.raw;
  writeU64(raw, H.refcountTableOffset, (start + blocks) * cs);
  raw.writeUInt32BE(tableClusters, H.refcountTableClusters);
  if (h.version >= 3) raw.writeUInt32BE((h.incompatible & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT)) >>> 0, H.incompatibleFeatures + 4);
  file.write(0, raw);
  file.sync();
}
