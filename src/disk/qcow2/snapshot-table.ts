// The internal snapshot table: parsing (bounded by the file and QEMU's
// limits, since every field may lie) and serialising.
import { ImageError } from '../errors.js';
import { MAX_L1_BYTES, MAX_SNAPSHOT_EXTRA, MAX_SNAPSHOT_TABLE_BYTES } from './constants.js';
import { readU64, writeU64 } from './entries.js';
import type { ImageFile } from './file-io.js';
import type { Qcow2Header } from './header.js';

/** Fixed part of a snapshot table entry, before extra data, id and name. */
const ENTRY_FIXED = 40;
/** v3 extra data: 64-bit vm_state_size, 64-bit virtual disk size. */
/** The table is read in steps of this size (doubling), never more than its entries need. */
const READ_STEP = 64 * 1024;
const V3_EXTRA = 16;

export interface Snapshot {
  l1Offset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSeconds: number;
  dateNanos: number;
  vmClockNanos: number;
  vmStateSize: number;
  /** Extra data kept byte for byte (disk size lives at bytes 8..16 when present). */
  extra: Buffer;
}

export function snapshotDiskSize(s: Snapshot): number | undefined {
  return s.extra.length >= V3_EXTRA ? readU64(s.extra, 8) : undefined;
}

export function readSnapshotTable(file: ImageFile, header: Qcow2Header): { snapshots: Snapshot[]; bytes: number } {
  const path = file.path;
  const count = header.nbSnapshots;
  if (count === 0) return { snapshots: [], bytes: 0 };
  const start = header.snapshotsOffset;
  const limit = Math.min(MAX_SNAPSHOT_TABLE_BYTES, file.length - start);
  // Read in bounded chunks as entries need them, never more than the limit.
  let buf = file.readMeta(start, Math.min(limit, READ_STEP), 'snapshot table');
  const need = (end: number) => {
    if (end > limit) throw new ImageError(path, 'snapshot table runs past the end of the file or its size limit');
    if (end > buf.length) buf = file.readMeta(start, Math.min(limit, Math.max(end, buf.length * 2)), 'snapshot table');
  };
  const snapshots: Snapshot[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    need(at + ENTRY_FIXED);
    const l1Offset = readU64(buf, at);
    const l1Size = buf.readUInt32BE(at + 8);
    const idLen = buf.readUInt16BE(at + 12);
    const nameLen = buf.readUInt16BE(at + 14);
    const extraLen = buf.readUInt32BE(at + 36);
    if (extraLen > MAX_SNAPSHOT_EXTRA) throw new ImageError(path, `snapshot ${i} has ${extraLen} bytes of extra data (limit ${MAX_SNAPSHOT_EXTRA})`);
    if (header.version >= 3 && extraLen < V3_EXTRA) throw new ImageError(path, `snapshot ${i} lacks the extra data version 3 requires`);
    const size = ENTRY_FIXED + extraLen + idLen + nameLen;
    need(at + size);
    if (l1Offset === undefined || l1Offset % header.clusterSize !== 0 || (l1Size > 0 && l1Offset < header.clusterSize)) {
      throw new ImageError(path, `snapshot ${i} has an invalid L1 table offset`);
    }
    if (l1Size * 8 > MAX_L1_BYTES) throw new ImageError(path, `snapshot ${i} has an L1 table larger than the limit`);
    if (l1Offset + l1Size * 8 > file.length) throw new ImageError(path, `snapshot ${i} L1 table lies beyond the end of the file`);
    const extra = Buffer.from(buf.subarray(at + ENTRY_FIXED, at + ENTRY_FIXED + extraLen));
    const id = buf.toString('utf8', at + ENTRY_FIXED + extraLen, at + ENTRY_FIXED + extraLen + idLen);
    const name = buf.toString('utf8', at + ENTRY_FIXED + extraLen + idLen, at + size);
    snapshots.push({
      l1Offset,
      l1Size,
      id,
      name,
      dateSeconds: buf.readUInt32BE(at + 16),
      dateNanos: buf.readUInt32BE(at + 20),
      vmClockNanos: readU64(buf, at + 24) ?? 0,
      vmStateSize: buf.readUInt32BE(at + 32),
      extra,
    });
    at += Math.ceil(size / 8) * 8;
  }
  return { snapshots, bytes: at };
}

export function serializeSnapshotTable(snapshots: Snapshot[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of snapshots) {
    const id = Buffer.from(s.id, 'utf8'),
      name = Buffer.from(s.name, 'utf8');
    const size = ENTRY_FIXED + s.extra.length + id.length + name.length;
    const e = Buffer.alloc(Math.ceil(size / 8) * 8);
    writeU64(e, 0, s.l1Offset);
    e.writeUInt32BE(s.l1Size, 8);
    e.writeUInt16BE(id.length, 12);
    e.writeUInt16BE(name.length, 14);
    e.writeUInt32BE(s.dateSeconds, 16);
    e.writeUInt32BE(s.dateNanos, 20);
    writeU64(e, 24, s.vmClockNanos);
    e.writeUInt32BE(s.vmStateSize, 32);
    e.writeUInt32BE(s.extra.length, 36);
    s.extra.copy(e, ENTRY_FIXED);
    id.copy(e, ENTRY_FIXED + s.extra.length);
    name.copy(e, ENTRY_FIXED + s.extra.length + id.length);
    parts.push(e);
  }
  return Buffer.concat(parts);
}

/** v3 extra data for a new snapshot: no VM state, and the disk size. */
export function newSnapshotExtra(version: number, diskSize: number): Buffer {
  if (version < 3) return Buffer.alloc(0);
  const extra = Buffer.alloc(V3_EXTRA);
  writeU64(extra, 8, diskSize);
  return extra;
}
