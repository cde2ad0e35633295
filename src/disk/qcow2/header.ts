// The qcow2 header: parse and validate it as untrusted input, and rebuild the
// header area (fixed fields, extensions, backing name) when something changes.
// Unknown header fields and extensions are kept byte for byte.
import { ImageError } from '../errors.js';
import {
  EXT_BACKING_FORMAT,
  EXT_END,
  H,
  INCOMPAT_COMPRESSION,
  INCOMPAT_DATA_FILE,
  INCOMPAT_EXTL2,
  INCOMPAT_KNOWN,
  MAX_BACKING_NAME,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MAX_REFCOUNT_ORDER,
  MAX_REFTABLE_BYTES,
  MAX_SAFE_OFFSET,
  MAX_SNAPSHOTS,
  MIN_CLUSTER_BITS,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  V3_MIN_HEADER_LENGTH,
} from './constants.js';
import { readU64 } from './entries.js';

export interface HeaderExtension {
  type: number;
  data: Buffer;
}

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  /** Low 32 bits of each feature field; the high halves must be zero to open. */
  incompatible: number;
  compatible: number;
  autoclear: number;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  backingFile?: string;
  backingFormat?: string;
  /** Every extension except the end marker, in file order (backing format included). */
  extensions: HeaderExtension[];
  /** The fixed header bytes [0, headerLength), unknown fields included. */
  raw: Buffer;
}

/** Bytes of the first cluster the parser needs to see (the whole header area lives there). */
export function headerProbeLength(fileLength: number): number {
  return Math.min(fileLength, 1 << MAX_CLUSTER_BITS);
}

function fail(path: string, problem: string): never {
  throw new ImageError(path, problem);
}

function u64(path: string, buf: Buffer, at: number, field: string): number {
  const v = readU64(buf, at);
  if (v === undefined) fail(path, `header field ${field} is out of range`);
  return v;
}

/** Parses the header from the start of the file. `fileLength` bounds every table. */
export function parseHeader(path: string, buf: Buffer, fileLength: number): Qcow2Header {
  if (buf.length < V2_HEADER_LENGTH) fail(path, 'file is too short to be a qcow2 image');
  if (buf.readUInt32BE(H.magic) !== QCOW2_MAGIC) fail(path, 'not a qcow2 image (bad magic)');
  const version = buf.readUInt32BE(H.version);
  if (version !== 2 && version !== 3) fail(path, `unsupported qcow2 version ${version}`);
  const clusterBits = buf.readUInt32BE(H.clusterBits);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    fail(path, `cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  const clusterSize = 2 ** clusterBits;
  if (buf.length < Math.min(clusterSize, fileLength)) fail(path, 'internal: header probe too short');

  let headerLength = V2_HEADER_LENGTH;
  let incompatible = 0,
    compatible = 0,
    autoclear = 0,
    refcountOrder = 4,
    compressionType = 0;
  if (version === 3) {
    if (buf.length < V3_MIN_HEADER_LENGTH) fail(path, 'file is too short for a version 3 header');
    headerLength = buf.readUInt32BE(H.headerLength);
    if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize || headerLength > buf.length) {
      fail(path, `header_length ${headerLength} is invalid`);
    }
    if (buf.readUInt32BE(H.incompatibleFeatures) !== 0) fail(path, 'unsupported incompatible feature bits set (high word)');
    incompatible = buf.readUInt32BE(H.incompatibleFeatures + 4);
    const unknown = incompatible & ~INCOMPAT_KNOWN;
    if (unknown !== 0) fail(path, `unsupported incompatible feature bits 0x${(unknown >>> 0).toString(16)}`);
    if (incompatible & INCOMPAT_DATA_FILE) fail(path, 'images with an external data file are not supported');
    compatible = buf.readUInt32BE(H.compatibleFeatures + 4);
    autoclear = buf.readUInt32BE(H.autoclearFeatures + 4);
    refcountOrder = buf.readUInt32BE(H.refcountOrder);
    if (refcountOrder > MAX_REFCOUNT_ORDER) fail(path, `refcount_order ${refcountOrder} is larger than ${MAX_REFCOUNT_ORDER}`);
    if (headerLength > H.compressionType) compressionType = buf[H.compressionType]!;
    if (compressionType !== 0 && !(incompatible & INCOMPAT_COMPRESSION)) fail(path, 'compression type set without its feature bit');
    if (compressionType > 1) fail(path, `unknown compression type ${compressionType}`);
  }

  const cryptMethod = buf.readUInt32BE(H.cryptMethod);
  if (cryptMethod !== 0) fail(path, 'encrypted images are not supported');

  const size = u64(path, buf, H.size, 'size');
  const l1Size = buf.readUInt32BE(H.l1Size);
  if (l1Size * 8 > MAX_L1_BYTES) fail(path, `L1 table of ${l1Size} entries is larger than the ${MAX_L1_BYTES}-byte limit`);
  // Guest bytes one L1 entry covers: a cluster per L2 entry (extended L2 entries are twice as wide).
  const entryBytes = incompatible & INCOMPAT_EXTL2 ? 16 : 8;
  const bytesPerL1 = clusterSize * (clusterSize / entryBytes);
  if (size > MAX_SAFE_OFFSET) fail(path, 'virtual size is too large');
  if (l1Size < Math.ceil(size / bytesPerL1)) fail(path, `L1 table of ${l1Size} entries is too small for the virtual size ${size}`);
  const l1TableOffset = u64(path, buf, H.l1TableOffset, 'l1_table_offset');
  // Alignment is checked even for empty tables, as QEMU does.
  if (l1TableOffset % clusterSize !== 0) fail(path, `L1 table offset ${l1TableOffset} is not aligned to a cluster`);
  if (l1Size > 0) checkTable(path, 'L1 table', l1TableOffset, l1Size * 8, clusterSize, fileLength);

  const refcountTableOffset = u64(path, buf, H.refcountTableOffset, 'refcount_table_offset');
  const refcountTableClusters = buf.readUInt32BE(H.refcountTableClusters);
  if (refcountTableClusters === 0) fail(path, 'image has no refcount table');
  if (refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) {
    fail(path, `refcount table of ${refcountTableClusters} clusters is larger than the ${MAX_REFTABLE_BYTES}-byte limit`);
  }
  checkTable(path, 'refcount table', refcountTableOffset, refcountTableClusters * clusterSize, clusterSize, fileLength);

  const nbSnapshots = buf.readUInt32BE(H.nbSnapshots);
  const snapshotsOffset = u64(path, buf, H.snapshotsOffset, 'snapshots_offset');
  if (nbSnapshots > MAX_SNAPSHOTS) fail(path, `${nbSnapshots} snapshots is more than the limit of ${MAX_SNAPSHOTS}`);
  if (snapshotsOffset % clusterSize !== 0) fail(path, `snapshot table offset ${snapshotsOffset} is not aligned to a cluster`);
  if (nbSnapshots > 0) checkTable(path, 'snapshot table', snapshotsOffset, 1, clusterSize, fileLength);

  if (l1Size > 0 && overlaps(l1TableOffset, l1Size * 8, refcountTableOffset, refcountTableClusters * clusterSize)) {
    fail(path, 'L1 table overlaps the refcount table');
  }

  // Backing file name: inside the first cluster, at most 1023 bytes.
  const backingFileOffset = u64(path, buf, H.backingFileOffset, 'backing_file_offset');
  const backingFileSize = buf.readUInt32BE(H.backingFileSize);
  let backingFile: string | undefined;
  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_NAME) fail(path, `backing file name of ${backingFileSize} bytes is too long`);
    if (backingFileOffset < headerLength || backingFileOffset + backingFileSize > Math.min(clusterSize, buf.length)) {
      fail(path, 'backing file name lies outside the header cluster');
    }
    backingFile = buf.toString('utf8', backingFileOffset, backingFileOffset + backingFileSize);
    if (backingFile.includes('\0')) fail(path, 'backing file name contains a NUL byte');
  }

  const extEnd = backingFileOffset !== 0 ? backingFileOffset : Math.min(clusterSize, buf.length);
  const extensions = parseExtensions(path, buf, headerLength, extEnd);
  const fmt = extensions.find((e) => e.type === EXT_BACKING_FORMAT);
  return {
    version,
    clusterBits,
    clusterSize,
    size,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatible,
    compatible,
    autoclear,
    refcountOrder,
    headerLength,
    compressionType,
    backingFile,
    backingFormat: fmt ? fmt.data.toString('utf8').replace(/\0+$/, '') : undefined,
    extensions,
    raw: Buffer.from(buf.subarray(0, headerLength)),
  };
}

function overlaps(a: number, alen: number, b: number, blen: number): boolean {
  return a < b + blen && b < a + alen;
}

/** A table must be cluster aligned, not in the header cluster, and inside the file. */
export function checkTable(path: string, what: string, offset: number, length: number, clusterSize: number, fileLength: number): void {
  if (offset % clusterSize !== 0) fail(path, `${what} offset ${offset} is not aligned to a cluster`);
  if (offset < clusterSize) fail(path, `${what} overlaps the image header`);
  if (offset + length > fileLength) fail(path, `${what} at offset ${offset} lies beyond the end of the file`);
}

function parseExtensions(path: string, buf: Buffer, start: number, end: number): HeaderExtension[] {
  const out: HeaderExtension[] = [];
  let at = start;
  while (at < end) {
    if (at + 8 > end) fail(path, 'header extension overruns the header area');
    const type = buf.readUInt32BE(at);
    const len = buf.readUInt32BE(at + 4);
    // Like QEMU, the length is checked even on the end marker.
    if (at + 8 + len > end) fail(path, `header extension 0x${type.toString(16)} overruns the header area`);
    if (type === EXT_END) return out;
    const padded = Math.ceil(len / 8) * 8;
    out.push({ type, data: Buffer.from(buf.subarray(at + 8, at + 8 + len)) });
    at += 8 + padded;
  }
  return out;
}

/**
 * Builds the header area: fixed fields, extensions (backing format replaced
 * or removed to match), end marker, backing name. Fails if it outgrows a cluster.
 */
export function buildHeaderArea(path: string, header: Qcow2Header, backing?: { name: string; format?: string }): Buffer {
  const exts = header.extensions.filter((e) => e.type !== EXT_BACKING_FORMAT);
  if (backing?.format) exts.unshift({ type: EXT_BACKING_FORMAT, data: Buffer.from(backing.format, 'utf8') });
  const parts: Buffer[] = [Buffer.from(header.raw)];
  for (const e of exts) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(e.type, 0);
    head.writeUInt32BE(e.data.length, 4);
    parts.push(head, e.data, Buffer.alloc(Math.ceil(e.data.length / 8) * 8 - e.data.length));
  }
  parts.push(Buffer.alloc(8)); // end-of-extensions marker
  const area = Buffer.concat(parts);
  const name = backing ? Buffer.from(backing.name, 'utf8') : Buffer.alloc(0);
  if (name.length > MAX_BACKING_NAME) fail(path, `backing file name is longer than ${MAX_BACKING_NAME} bytes`);
  const full = Buffer.concat([area, name]);
  if (full.length > header.clusterSize) fail(path, 'header, extensions and backing name do not fit in one cluster');
  // Point the fixed fields at the name (or at nothing).
  full.writeUInt32BE(0, H.backingFileOffset);
  full.writeUInt32BE(name.length ? area.length : 0, H.backingFileOffset + 4);
  full.writeUInt32BE(name.length, H.backingFileSize);
  return full;
}
