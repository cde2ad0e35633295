// Parsing a virtio-blk request (VIRTIO 1.2, 5.2.6) from a validated
// descriptor chain into a typed request, before any disk I/O happens.
// Layout: a 16-byte device-readable header { type u32, reserved u32,
// sector u64 }, then data (readable for writes and discard/write-zeroes
// segments, writable for reads and get-id), then one writable status byte.
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { DescriptorChain, Segment } from '../../../virtio/chain.js';
import { gather, subRange } from '../../../virtio/segments.js';

/** Request types (5.2.6). */
export const RequestType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
} as const;

/** Status byte values (5.2.6). */
export const BlkStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

/** Sectors are always 512 bytes in virtio-blk, whatever the device's block size. */
export const SECTOR_SIZE = 512;
const HEADER_SIZE = 16;
/** The ID string get-id returns is at most this long (VIRTIO_BLK_ID_BYTES). */
export const ID_BYTES = 20;
/** struct virtio_blk_discard_write_zeroes: sector u64, num_sectors u32, flags u32. */
export const RANGE_SEGMENT_SIZE = 16;
/** The only flag defined for write-zeroes segments. */
export const WRITE_ZEROES_FLAG_UNMAP = 1;

/** Limits the device announces in its config space and enforces here. */
export interface BlockLimits {
  readonly capacitySectors: number;
  readonly readOnly: boolean;
  readonly maxDiscardSectors: number;
  readonly maxDiscardSegments: number;
  readonly maxWriteZeroesSectors: number;
  readonly maxWriteZeroesSegments: number;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export type BlockRequest =
  | { readonly kind: 'read'; readonly offset: number; readonly data: readonly Segment[]; readonly length: number; readonly status: Segment }
  | { readonly kind: 'write'; readonly offset: number; readonly data: readonly Segment[]; readonly length: number; readonly status: Segment }
  | { readonly kind: 'flush'; readonly status: Segment }
  | { readonly kind: 'get-id'; readonly data: readonly Segment[]; readonly length: number; readonly status: Segment }
  | { readonly kind: 'discard' | 'write-zeroes'; readonly ranges: readonly ByteRange[]; readonly status: Segment };

/** A request that is answered with a status and no I/O. */
export interface RejectedRequest {
  readonly kind: 'rejected';
  readonly status: Segment;
  readonly code: number;
  readonly reason: string;
}

/** A chain that cannot even carry a status byte back: returned unused. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

export function parseRequest(memory: GuestMemory, chain: DescriptorChain, limits: BlockLimits): BlockRequest | RejectedRequest | MalformedRequest {
  if (chain.writableLength < 1) return new MalformedRequest('request has no writable status byte');
  if (chain.readableLength < HEADER_SIZE) return new MalformedRequest(`request header is ${chain.readableLength} bytes, not ${HEADER_SIZE}`);
  const status = subRange(chain.writable, chain.writableLength - 1, 1)[0]!;
  const header = new DataView(gather(memory, chain.readable, 0, HEADER_SIZE).buffer);
  const type = header.getUint32(0, true);
  const sectorLow = header.getUint32(8, true);
  const sectorHigh = header.getUint32(12, true);
  const reject = (code: number, reason: string): RejectedRequest => ({ kind: 'rejected', status, code, reason });
  const readData = chain.readableLength - HEADER_SIZE;
  const writeData = chain.writableLength - 1;

  switch (type) {
    case RequestType.IN:
    case RequestType.OUT: {
      const isRead = type === RequestType.IN;
      const length = isRead ? writeData : readData;
      if (isRead && readData !== 0) return reject(BlkStatus.IOERR, 'read request carries device-readable data');
      if (!isRead && writeData !== 0) return reject(BlkStatus.IOERR, 'write request has device-writable data besides the status');
      if (length % SECTOR_SIZE !== 0) return reject(BlkStatus.IOERR, `data length ${length} is not a multiple of ${SECTOR_SIZE}`);
      const range = sectorRange(sectorLow, sectorHigh, length / SECTOR_SIZE, limits);
      if (typeof range === 'string') return reject(BlkStatus.IOERR, range);
      if (!isRead && limits.readOnly) return reject(BlkStatus.IOERR, 'write to a read-only disk');
      const data = isRead ? subRange(chain.writable, 0, length) : subRange(chain.readable, HEADER_SIZE, length);
      return { kind: isRead ? 'read' : 'write', offset: range.offset, data, length, status };
    }
    case RequestType.FLUSH:
      return { kind: 'flush', status };
    case RequestType.GET_ID: {
      if (writeData === 0) return reject(BlkStatus.IOERR, 'get-id request has no buffer for the ID');
      const length = Math.min(writeData, ID_BYTES);
      return { kind: 'get-id', data: subRange(chain.writable, 0, length), length, status };
    }
    case RequestType.DISCARD:
    case RequestType.WRITE_ZEROES: {
      const isDiscard = type === RequestType.DISCARD;
      if (limits.readOnly) return reject(BlkStatus.IOERR, `${isDiscard ? 'discard' : 'write-zeroes'} on a read-only disk`);
      const maxSegments = isDiscard ? limits.maxDiscardSegments : limits.maxWriteZeroesSegments;
      const maxSectors = isDiscard ? limits.maxDiscardSectors : limits.maxWriteZeroesSectors;
      if (readData === 0 || readData % RANGE_SEGMENT_SIZE !== 0)
        return reject(BlkStatus.IOERR, `range list of ${readData} bytes is not whole ${RANGE_SEGMENT_SIZE}-byte segments`);
      const count = readData / RANGE_SEGMENT_SIZE;
      if (count > maxSegments) return reject(BlkStatus.UNSUPP, `${count} range segments, more than the ${maxSegments} announced`);
      const bytes = new DataView(gather(memory, chain.readable, HEADER_SIZE, readData).buffer);
      const ranges: ByteRange[] = [];
      for (let i = 0; i < count; i++) {
        const at = i * RANGE_SEGMENT_SIZE;
        const sectors = bytes.getUint32(at + 8, true);
        const flags = bytes.getUint32(at + 12, true);
        // Discard defines no flags; write-zeroes only UNMAP (5.2.6.2: reserved bits set → UNSUPP).
        const allowed = isDiscard ? 0 : WRITE_ZEROES_FLAG_UNMAP;
        if (flags & ~allowed) return reject(BlkStatus.UNSUPP, `range flags 0x${flags.toString(16)} are not supported`);
        if (sectors > maxSectors) return reject(BlkStatus.IOERR, `range of ${sectors} sectors, more than the ${maxSectors} announced`);
        const range = sectorRange(bytes.getUint32(at, true), bytes.getUint32(at + 4, true), sectors, limits);
        if (typeof range === 'string') return reject(BlkStatus.IOERR, range);
        ranges.push(range);
      }
      return { kind: isDiscard ? 'discard' : 'write-zeroes', ranges, status };
    }
    default:
      return reject(BlkStatus.UNSUPP, `request type ${type} is not supported`);
  }
}

/** The byte range of `count` sectors at the given sector, or why it is outside the disk. */
function sectorRange(low: number, high: number, count: number, limits: BlockLimits): ByteRange | string {
  const sector = high * 0x1_0000_0000 + low;
  if (high >= 0x20_0000 || sector + count > limits.capacitySectors) {
    return `sectors ${sector}+${count} are beyond the disk's ${limits.capacitySectors} sectors`;
  }
  return { offset: sector * SECTOR_SIZE, length: count * SECTOR_SIZE };
}
