// Walks one descriptor chain of a split virtqueue (VIRTIO 1.2, 2.7.5) and
// turns it into a validated list of guest-memory segments, or a ChainError
// saying what the driver got wrong. Everything read here was written by the
// guest and is treated as hostile:
//   - every descriptor index is below the queue size (2.7.5.2);
//   - a chain visits at most `queueSize` descriptors of the queue's table
//     (2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the
//     Queue Size of the device"), and at most as many as an indirect table
//     holds inside one, so a loop ends; Linux fills an indirect table with up
//     to seg_max + 2 entries, the queue size here, so the indirect descriptor
//     itself is not counted against the table's bound (QEMU bounds it alike);
//   - the total length stays below 2^32 (2.7.5.3.1, as virtio-queue checks);
//   - every buffer lies inside guest RAM;
//   - device-writable descriptors come after every device-readable one (2.7.4.2);
//   - an indirect descriptor needs the negotiated feature, is not nested, does
//     not also carry NEXT, and its table length is a non-zero multiple of 16
//     (2.7.5.3.1).
import type { GuestMemory } from '../memory/guest-memory.js';

/** Bytes per descriptor: addr u64, len u32, flags u16, next u16. */
export const DESCRIPTOR_SIZE = 16;
/** Descriptor flags (2.7.5). */
export const DescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;
/** An indirect table holds at most this many descriptors (the largest split queue; QEMU's bound too). */
export const MAX_INDIRECT_DESCRIPTORS = 32768;
/** The total length of a chain must stay below 2^32. */
const MAX_CHAIN_BYTES = 0xffff_ffff;

/** A run of guest memory that lies inside one RAM region, so it can be sliced directly. */
export interface Segment {
  readonly address: number;
  readonly length: number;
}

export interface DescriptorChain {
  /** Index of the first descriptor; it identifies the chain in the used ring. */
  readonly head: number;
  /** Device-readable buffers, in chain order. */
  readonly readable: readonly Segment[];
  /** Device-writable buffers, in chain order. */
  readonly writable: readonly Segment[];
  readonly readableLength: number;
  readonly writableLength: number;
}

export class ChainError {
  constructor(
    readonly head: number,
    readonly reason: string,
  ) {}
}

export interface ChainContext {
  readonly memory: GuestMemory;
  readonly descTable: number;
  readonly queueSize: number;
  readonly indirectAllowed: boolean;
}

export function walkChain(ctx: ChainContext, head: number): DescriptorChain | ChainError {
  if (head >= ctx.queueSize) return new ChainError(head, `head index ${head} is not below the queue size ${ctx.queueSize}`);
  const readable: Segment[] = [];
  const writable: Segment[] = [];
  let total = 0;
  let visited = 0;
  // The table being walked: the queue's own, or one indirect table.
  let table = ctx.descTable;
  let tableSize = ctx.queueSize;
  let inIndirect = false;
  let index = head;
  for (;;) {
    if (++visited > tableSize) return new ChainError(head, `chain is longer than its table's ${tableSize} descriptors (a loop?)`);
    const at = table + index * DESCRIPTOR_SIZE;
    const address = readAddress(ctx.memory, at);
    const length = ctx.memory.readU32(at + 8);
    const flags = ctx.memory.readU16(at + 12);
    const next = ctx.memory.readU16(at + 14);
    if (flags & DescFlag.INDIRECT) {
      if (!ctx.indirectAllowed) return new ChainError(head, 'indirect descriptor without the negotiated INDIRECT_DESC feature');
      if (inIndirect) return new ChainError(head, 'indirect descriptor inside an indirect table');
      if (flags & DescFlag.NEXT) return new ChainError(head, 'indirect descriptor also has the NEXT flag');
      if (length === 0 || length % DESCRIPTOR_SIZE !== 0)
        return new ChainError(head, `indirect table length ${length} is not a non-zero multiple of ${DESCRIPTOR_SIZE}`);
      if (address === undefined || !ctx.memory.isValidRange(address, length))
        return new ChainError(head, `indirect table at ${hex(address)}+${length} is outside guest memory`);
      if (length / DESCRIPTOR_SIZE > MAX_INDIRECT_DESCRIPTORS)
        return new ChainError(head, `indirect table of ${length / DESCRIPTOR_SIZE} descriptors, more than ${MAX_INDIRECT_DESCRIPTORS}`);
      table = address;
      tableSize = length / DESCRIPTOR_SIZE;
      inIndirect = true;
      index = 0;
      visited = 0;
      continue;
    }
    if (address === undefined) return new ChainError(head, 'buffer address is beyond 2^53');
    total += length;
    if (total > MAX_CHAIN_BYTES) return new ChainError(head, 'chain is 4 GiB or longer');
    const isWrite = (flags & DescFlag.WRITE) !== 0;
    if (!isWrite && writable.length > 0) return new ChainError(head, 'device-readable buffer after a device-writable one');
    if (length > 0) {
      const segments = splitAtRegions(ctx.memory, address, length);
      if (!segments) return new ChainError(head, `buffer ${hex(address)}+${length} is outside guest memory`);
      (isWrite ? writable : readable).push(...segments);
    }
    if (!(flags & DescFlag.NEXT)) break;
    if (next >= tableSize) return new ChainError(head, `next index ${next} is not below the table size ${tableSize}`);
    index = next;
  }
  return {
    head,
    readable,
    writable,
    readableLength: readable.reduce((s, x) => s + x.length, 0),
    writableLength: writable.reduce((s, x) => s + x.length, 0),
  };
}

/** A guest u64 address, or undefined when it cannot be a JS-safe address at all. */
function readAddress(memory: GuestMemory, at: number): number | undefined {
  const low = memory.readU32(at);
  const high = memory.readU32(at + 4);
  // 2^53 / 2^32: anything above cannot be RAM and would lose precision.
  if (high >= 0x20_0000) return undefined;
  return high * 0x1_0000_0000 + low;
}

/** Splits [address, address+length) at RAM region boundaries; undefined if any byte is not RAM. */
export function splitAtRegions(memory: GuestMemory, address: number, length: number): Segment[] | undefined {
  if (memory.isValidRange(address, length)) return [{ address, length }];
  if (!memory.coversRange(address, length)) return undefined;
  const out: Segment[] = [];
  let cursor = address;
  const end = address + length;
  for (const region of memory.regionList) {
    const regionEnd = region.guestAddress + region.bytes.length;
    if (cursor >= region.guestAddress && cursor < regionEnd) {
      const piece = Math.min(end, regionEnd) - cursor;
      out.push({ address: cursor, length: piece });
      cursor += piece;
      if (cursor >= end) break;
    }
  }
  return cursor >= end ? out : undefined;
}

function hex(n: number | undefined): string {
  return n === undefined ? '(beyond 2^53)' : `0x${n.toString(16)}`;
}
