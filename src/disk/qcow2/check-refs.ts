// Counting every reference in an image the way `qemu-img check` does: header,
// L1 tables (active and snapshots), L2 tables, data and compressed clusters,
// refcount table and blocks, snapshot table. Problems are collected, not thrown.
import {
  HI_COMPRESSED,
  HI_COPIED,
  INCOMPAT_EXTL2,
  L1_HI_RESERVED,
  L1_LO_RESERVED,
  L2_HI_RESERVED,
  L2_LO_RESERVED,
  REFTABLE_HI_INVALID,
  REFTABLE_LO_RESERVED,
  EXTL2_LO_RESERVED,
} from './constants.js';
import { decodeCompressed } from './compressed.js';
import { entryOffset } from './entries.js';
import type { ImageFile } from './file-io.js';
import type { Qcow2Header } from './header.js';
import { readSnapshotTable } from './snapshot-table.js';

export interface References {
  /** References per cluster, for clusters inside the file. */
  counts: Uint32Array;
  corruptions: string[];
  /** Active-layer entries whose COPIED flag must be checked once counts are known. */
  copiedChecks: Array<{ table: number; index: number; target: number; copied: boolean }>;
  /** Active entries with reserved bits set (mvm ignores those bits; -r all clears them). */
  reservedBits: Array<{ at: number; hiMask: number; loMask: number }>;
  /** Active L1/L2 entries pointing outside the file: -r all clears them (what they pointed at is unreadable). */
  badEntries: Array<{ table: number; index: number }>;
  clusters: number;
  snapshotTableClusters: number;
}

/** `withRefcounts` false leaves out the refcount table and blocks (for a rebuild that replaces them). */
export function countReferences(file: ImageFile, h: Qcow2Header, withRefcounts = true): References {
  const cs = h.clusterSize;
  const clusters = Math.ceil(file.length / cs);
  const counts = new Uint32Array(clusters);
  const corruptions: string[] = [];
  const copiedChecks: References['copiedChecks'] = [];
  const badEntries: References['badEntries'] = [];
  const reservedBits: References['reservedBits'] = [];
  const entryBytes = h.incompatible & INCOMPAT_EXTL2 ? 16 : 8;

  const ref = (offset: number, length: number, what: string): boolean => {
    const first = Math.floor(offset / cs),
      last = Math.floor((offset + length - 1) / cs);
    if (last >= clusters) {
      corruptions.push(`${what} at offset ${offset} lies beyond the end of the file`);
      return false;
    }
    for (let c = first; c <= last; c++) counts[c]!++;
    return true;
  };

  ref(0, cs, 'header');

  const walkL1 = (l1Offset: number, l1Size: number, active: boolean, name: string) => {
    if (l1Size === 0) return;
    if (!ref(l1Offset, l1Size * 8, `${name} L1 table`)) return;
    const l1 = file.readMeta(l1Offset, l1Size * 8, `${name} L1 table`);
    for (let i = 0; i < l1Size; i++) {
      if (l1.readUInt32BE(i * 8) & L1_HI_RESERVED || l1.readUInt32BE(i * 8 + 4) & L1_LO_RESERVED) {
        corruptions.push(`${name} L1 entry ${i} has reserved bits set`);
        if (active) reservedBits.push({ at: l1Offset + i * 8, hiMask: L1_HI_RESERVED, loMask: L1_LO_RESERVED });
      }
      const l2off = entryOffset(l1, i * 8);
      if (l2off === 0) {
        // mvm (and QEMU's read path) see no table here, but qemu-img check reads one at offset 0.
        if (l1.readUInt32BE(i * 8) !== 0 || l1.readUInt32BE(i * 8 + 4) !== 0) {
          corruptions.push(`${name} L1 entry ${i} has flags but no L2 table offset`);
          if (active) badEntries.push({ table: l1Offset, index: i });
        }
        continue;
      }
      if (l2off % cs !== 0) {
        corruptions.push(`${name} L1 entry ${i} points at unaligned L2 offset ${l2off}`);
        continue;
      }
      if (!ref(l2off, cs, `${name} L2 table`)) {
        if (active) badEntries.push({ table: l1Offset, index: i });
        continue;
      }
      if (active) copiedChecks.push({ table: l1Offset, index: i, target: l2off / cs, copied: (l1.readUInt32BE(i * 8) & HI_COPIED) !== 0 });
      const l2 = file.readMeta(l2off, cs, 'L2 table');
      for (let j = 0; j < cs / entryBytes; j++) {
        const at = j * entryBytes;
        const hi = l2.readUInt32BE(at),
          lo = l2.readUInt32BE(at + 4);
        if (hi & HI_COMPRESSED) {
          const ext = decodeCompressed(hi, lo, h.clusterBits);
          if (hi & HI_COPIED) {
            corruptions.push(`${name} compressed cluster entry at L2 ${l2off} index ${j} has the COPIED flag`);
            if (active) reservedBits.push({ at: l2off + at, hiMask: HI_COPIED, loMask: 0 });
          }
          if (!ref(ext.offset, ext.length, `${name} compressed cluster`) && active) badEntries.push({ table: l2off, index: j });
          continue;
        }
        const loReserved = entryBytes === 8 ? L2_LO_RESERVED : EXTL2_LO_RESERVED;
        if (hi & L2_HI_RESERVED || lo & loReserved) {
          corruptions.push(`${name} L2 entry at ${l2off} index ${j} has reserved bits set`);
          if (active) reservedBits.push({ at: l2off + at, hiMask: L2_HI_RESERVED, loMask: loReserved });
        }
        const host = entryOffset(l2, at);
        if (entryBytes === 16) {
          const zeroBits = l2.readUInt32BE(at + 8),
            allocBits = l2.readUInt32BE(at + 12);
          if (zeroBits & allocBits) corruptions.push(`${name} extended L2 entry at ${l2off} index ${j} marks subclusters both allocated and zero`);
          if (host === 0 && allocBits) corruptions.push(`${name} extended L2 entry at ${l2off} index ${j} has allocated subclusters but no cluster`);
        }
        if (host === 0) continue;
        if (host % cs !== 0) {
          corruptions.push(`${name} L2 entry at ${l2off} index ${j} points at unaligned offset ${host}`);
          continue;
        }
        if (!ref(host, cs, `${name} data cluster`)) {
          if (active) badEntries.push({ table: l2off, index: j });
          continue;
        }
        if (active) copiedChecks.push({ table: l2off, index: j, target: host / cs, copied: (hi & HI_COPIED) !== 0 });
      }
    }
  };

  walkL1(h.l1TableOffset, h.l1Size, true, 'active');

  let snapshotTableClusters = 0;
  try {
    const { snapshots, bytes } = readSnapshotTable(file, h);
    if (bytes > 0) {
      ref(h.snapshotsOffset, bytes, 'snapshot table');
      snapshotTableClusters = Math.ceil(bytes / cs);
    }
    for (const s of snapshots) walkL1(s.l1Offset, s.l1Size, false, `snapshot "${s.name}"`);
  } catch (err) {
    corruptions.push(`snapshot table: ${(err as Error).message}`);
  }

  if (withRefcounts && ref(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table')) {
    const table = file.readMeta(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
    for (let i = 0; i < table.length / 8; i++) {
      if (table.readUInt32BE(i * 8) & REFTABLE_HI_INVALID) {
        corruptions.push(`refcount block ${i} is outside the image`);
        continue;
      }
      if (table.readUInt32BE(i * 8 + 4) & REFTABLE_LO_RESERVED) corruptions.push(`refcount table entry ${i} has reserved bits set`);
      const off = entryOffset(table, i * 8);
      if (off === 0) continue;
      if (off % cs !== 0) {
        corruptions.push(`refcount block ${i} offset ${off} is not cluster aligned`);
        continue;
      }
      ref(off, cs, `refcount block ${i}`);
    }
  }
  return { counts, corruptions, copiedChecks, badEntries, reservedBits, clusters, snapshotTableClusters };
}
