// Internal snapshots: create, apply, delete. A snapshot is a copy of the L1
// table plus one more reference on every L2 table and data cluster it reaches;
// the active layer then copies shared clusters on write. Increments reach the
// disk before the header that depends on them; decrements only after it.
import { ImageError } from '../errors.js';
import { HI_COMPRESSED, HI_COPIED, MAX_SNAPSHOTS } from './constants.js';
import { decodeCompressed } from './compressed.js';
import { entryOffset } from './entries.js';
import type { Qcow2Image } from './image.js';
import type { Snapshot } from './snapshot-table.js';
import { newSnapshotExtra, readSnapshotTable, serializeSnapshotTable, snapshotDiskSize } from './snapshot-table.js';

export function listSnapshots(image: Qcow2Image): Snapshot[] {
  return readSnapshotTable(image.file, image.header).snapshots;
}

function find(image: Qcow2Image, nameOrId: string): Snapshot {
  const all = listSnapshots(image);
  const s = all.find((x) => x.name === nameOrId) ?? all.find((x) => x.id === nameOrId);
  if (!s) throw new ImageError(image.path, `no snapshot named "${nameOrId}"`);
  return s;
}

/** Calls `fn` for every cluster an L1 table references (L2 tables, data, compressed data). */
function forEachTreeCluster(image: Qcow2Image, l1: Buffer, fromCache: boolean, fn: (cluster: number) => void): void {
  const cs = image.clusterSize;
  for (let i = 0; i < l1.length / 8; i++) {
    const l2off = entryOffset(l1, i * 8);
    if (l2off === 0) continue;
    const l2 = fromCache ? image.cache.get(l2off) : readL2(image, l2off);
    fn(l2off / cs);
    for (let j = 0; j < image.l2Entries; j++) {
      const at = j * image.entryBytes;
      const hi = l2.readUInt32BE(at);
      if (hi & HI_COMPRESSED) {
        const ext = decodeCompressed(hi, l2.readUInt32BE(at + 4), image.clusterBits);
        const first = Math.floor(ext.offset / cs),
          last = Math.floor((ext.offset + ext.length - 1) / cs);
        for (let c = first; c <= last; c++) fn(c);
        continue;
      }
      const host = entryOffset(l2, at);
      if (host !== 0) fn(host / cs);
    }
  }
}

function readL2(image: Qcow2Image, off: number): Buffer {
  if (off % image.clusterSize !== 0 || off < image.clusterSize) throw new ImageError(image.path, `snapshot L2 table offset ${off} is invalid`);
  return image.file.readMeta(off, image.clusterSize, 'snapshot L2 table');
}

function writeTable(image: Qcow2Image, snapshots: Snapshot[]): { offset: number; clusters: number } {
  if (snapshots.length === 0) return { offset: 0, clusters: 0 };
  const buf = serializeSnapshotTable(snapshots);
  const clusters = Math.ceil(buf.length / image.clusterSize);
  const offset = image.refcounts!.allocate(clusters) * image.clusterSize;
  image.file.write(offset, buf);
  return { offset, clusters };
}

/** Points the header at a new snapshot table, then frees the old one. */
function switchTable(image: Qcow2Image, snapshots: Snapshot[], table: { offset: number }): void {
  const h = image.header;
  const old = readSnapshotTable(image.file, h);
  const oldOffset = h.snapshotsOffset;
  image.flushSync(); // new table and every increment durable before the header refers to them
  h.nbSnapshots = snapshots.length;
  h.snapshotsOffset = table.offset;
  image.writeHeader();
  image.file.sync();
  if (old.bytes > 0) image.refcounts!.decrementRangeLater(oldOffset, old.bytes);
}

export function createSnapshot(image: Qcow2Image, name: string): void {
  const all = listSnapshots(image);
  if (all.some((s) => s.name === name)) throw new ImageError(image.path, `a snapshot named "${name}" already exists`);
  if (all.length >= MAX_SNAPSHOTS) throw new ImageError(image.path, 'too many snapshots');
  image.flushSync();
  const rc = image.refcounts!,
    cs = image.clusterSize,
    h = image.header;
  // Copy of the active L1 table, without COPIED flags (nothing it reaches is exclusively owned any more).
  const l1 = Buffer.from(image.l1);
  for (let i = 0; i < l1.length; i += 8) l1.writeUInt32BE((l1.readUInt32BE(i) & ~HI_COPIED) >>> 0, i);
  const l1Offset = l1.length ? rc.allocate(Math.ceil(l1.length / cs)) * cs : 0;
  if (l1.length) image.file.write(l1Offset, l1);
  forEachTreeCluster(image, image.l1, true, (c) => rc.add(c, 1));
  clearCopiedFlags(image);
  const now = Date.now();
  const nextId = all.reduce((m, s) => Math.max(m, Number.parseInt(s.id, 10) || 0), 0) + 1;
  const snapshots = [
    ...all,
    {
      l1Offset,
      l1Size: h.l1Size,
      id: String(nextId),
      name,
      dateSeconds: Math.floor(now / 1000),
      dateNanos: (now % 1000) * 1e6,
      vmClockNanos: 0,
      vmStateSize: 0,
      extra: newSnapshotExtra(h.version, h.size),
    },
  ];
  switchTable(image, snapshots, writeTable(image, snapshots));
  image.flushSync();
}

export function deleteSnapshot(image: Qcow2Image, nameOrId: string): void {
  const victim = find(image, nameOrId);
  image.flushSync();
  const rest = listSnapshots(image).filter((s) => s.id !== victim.id);
  switchTable(image, rest, writeTable(image, rest));
  const rc = image.refcounts!;
  const l1 = image.file.readMeta(victim.l1Offset, victim.l1Size * 8, 'snapshot L1 table');
  forEachTreeCluster(image, l1, false, (c) => rc.decrementLater(c));
  if (victim.l1Size) rc.decrementRangeLater(victim.l1Offset, victim.l1Size * 8);
  image.flushSync();
  setCopiedFlags(image);
  image.flushSync();
}

export function applySnapshot(image: Qcow2Image, nameOrId: string): void {
  const s = find(image, nameOrId);
  image.flushSync();
  const rc = image.refcounts!,
    cs = image.clusterSize,
    h = image.header;
  const snapL1 = image.file.readMeta(s.l1Offset, s.l1Size * 8, 'snapshot L1 table');
  const size = snapshotDiskSize(s) ?? h.size;
  if (s.l1Size < Math.ceil(size / (cs * image.l2Entries)))
    throw new ImageError(image.path, `snapshot "${s.name}" has an L1 table too small for its disk size`);
  forEachTreeCluster(image, snapL1, false, (c) => rc.add(c, 1));
  const newL1 = Buffer.from(snapL1);
  for (let i = 0; i < newL1.length; i += 8) newL1.writeUInt32BE((newL1.readUInt32BE(i) & ~HI_COPIED) >>> 0, i);
  const newOffset = newL1.length ? rc.allocate(Math.ceil(newL1.length / cs)) * cs : 0;
  if (newL1.length) image.file.write(newOffset, newL1);
  // The old active tree loses a reference once the header points at the new L1, not before: the
  // flush below applies queued decrements, and a crash between it and the header write would leave
  // the old tree referenced with too low a refcount. So it is listed now and queued after the switch.
  const oldTree: number[] = [];
  forEachTreeCluster(image, image.l1, true, (c) => oldTree.push(c));
  const oldL1 = { offset: h.l1TableOffset, bytes: h.l1Size * 8 };
  image.flushSync();
  h.l1TableOffset = newOffset;
  h.l1Size = s.l1Size;
  h.size = size;
  image.replaceL1(newL1);
  image.writeHeader();
  image.file.sync();
  for (const c of oldTree) rc.decrementLater(c);
  if (oldL1.bytes) rc.decrementRangeLater(oldL1.offset, oldL1.bytes);
  image.flushSync();
  setCopiedFlags(image);
  image.flushSync();
}

/** After a snapshot shares everything: no active entry is exclusively owned. */
function clearCopiedFlags(image: Qcow2Image): void {
  for (let i = 0; i < image.header.l1Size; i++) {
    const hi = image.l1.readUInt32BE(i * 8);
    const l2off = entryOffset(image.l1, i * 8);
    if (l2off === 0) continue;
    const l2 = image.cache.get(l2off);
    let changed = false;
    for (let j = 0; j < image.l2Entries; j++) {
      const at = j * image.entryBytes;
      const e = l2.readUInt32BE(at);
      if (e & HI_COPIED) {
        l2.writeUInt32BE((e & ~HI_COPIED) >>> 0, at);
        changed = true;
      }
    }
    if (changed) image.cache.put(l2off, l2);
    if (hi & HI_COPIED) {
      image.l1.writeUInt32BE((hi & ~HI_COPIED) >>> 0, i * 8);
      image.l1Dirty.add(i);
    }
  }
}

/** Sets COPIED exactly where the refcount is 1 (after decrements were applied). */
function setCopiedFlags(image: Qcow2Image): void {
  const rc = image.refcounts!,
    cs = image.clusterSize;
  for (let i = 0; i < image.header.l1Size; i++) {
    const l2off = entryOffset(image.l1, i * 8);
    if (l2off === 0) continue;
    const hi = image.l1.readUInt32BE(i * 8);
    const own = rc.get(l2off / cs) === 1;
    const want = own ? (hi | HI_COPIED) >>> 0 : (hi & ~HI_COPIED) >>> 0;
    if (want !== hi) {
      image.l1.writeUInt32BE(want, i * 8);
      image.l1Dirty.add(i);
    }
    if (!own) continue; // a shared table keeps its entries as they are
    const l2 = image.cache.get(l2off);
    let changed = false;
    for (let j = 0; j < image.l2Entries; j++) {
      const at = j * image.entryBytes;
      const e = l2.readUInt32BE(at);
      if (e & HI_COMPRESSED) continue;
      const host = entryOffset(l2, at);
      if (host === 0) continue;
      const w = rc.get(host / cs) === 1 ? (e | HI_COPIED) >>> 0 : (e & ~HI_COPIED) >>> 0;
      if (w !== e) {
        l2.writeUInt32BE(w, at);
        changed = true;
      }
    }
    if (changed) image.cache.put(l2off, l2);
  }
}
