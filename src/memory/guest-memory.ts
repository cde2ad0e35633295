// Guest-physical memory as seen by the VMM: a few regions of host memory,
// each mapped at a guest-physical address. Every access goes through these
// methods, which check that the whole range lies inside one region, so a
// guest-supplied address or length can never reach host memory outside the
// guest's RAM.

/** A guest address or length that does not fit inside guest RAM. */
export class GuestMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestMemoryError';
  }
}

/** One contiguous run of guest RAM backed by host memory. */
export interface MemoryRegion {
  /** Guest-physical address of the first byte. */
  readonly guestAddress: number;
  /** The host bytes; their length is the region's size. */
  readonly bytes: Uint8Array;
  /** Set when the region is a shared mapping of a memory file another process can map too (vhost-user). */
  readonly file?: SharedBacking;
}

/** Where a region's bytes live in a memory file, and where this process mapped them. */
export interface SharedBacking {
  readonly fd: number;
  /** Offset of the region's first byte in the file. */
  readonly offset: number;
  /** This process's address of the region's first byte (vhost-user's "user address"). */
  readonly hostAddress: bigint;
}

/** Largest integer a JS number holds exactly; guest addresses stay below it. */
const MAX_SAFE_ADDRESS = Number.MAX_SAFE_INTEGER;

export class GuestMemory {
  private readonly regions: readonly MemoryRegion[];
  private readonly views: readonly DataView[];

  constructor(regions: readonly MemoryRegion[]) {
    const sorted = [...regions].sort((a, b) => a.guestAddress - b.guestAddress);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (prev.guestAddress + prev.bytes.length > sorted[i]!.guestAddress) {
        throw new GuestMemoryError(`memory regions overlap at 0x${sorted[i]!.guestAddress.toString(16)}`);
      }
    }
    this.regions = sorted;
    this.views = sorted.map((r) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
  }

  /** Plain anonymous buffers; used by specs and by anything that needs no KVM. */
  static fromSizes(layout: readonly { guestAddress: number; size: number }[]): GuestMemory {
    return new GuestMemory(layout.map((r) => ({ guestAddress: r.guestAddress, bytes: new Uint8Array(r.size) })));
  }

  get regionList(): readonly MemoryRegion[] {
    return this.regions;
  }

  /** Total bytes of RAM over all regions. */
  get totalSize(): number {
    return this.regions.reduce((sum, r) => sum + r.bytes.length, 0);
  }

  /** True when [address, address + length) lies inside one region. */
  isValidRange(address: number, length: number): boolean {
    return this.find(address, length) >= 0;
  }

  /**
   * True when [address, address + length) is RAM, possibly spread over
   * adjacent regions (large RAM is mapped as several slots). Single accesses
   * still need isValidRange: they must not straddle two host mappings.
   */
  coversRange(address: number, length: number): boolean {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 || length < 0) return false;
    let cursor = address;
    const end = address + length;
    for (const r of this.regions) {
      const regionEnd = r.guestAddress + r.bytes.length;
      if (cursor >= r.guestAddress && cursor < regionEnd) cursor = regionEnd;
      if (cursor >= end) return true;
    }
    return length === 0;
  }

  /** A view of guest memory that aliases it (writes go to the guest). */
  slice(address: number, length: number): Uint8Array {
    const i = this.locate(address, length);
    const region = this.regions[i]!;
    const start = address - region.guestAddress;
    return region.bytes.subarray(start, start + length);
  }

  read(address: number, length: number): Uint8Array {
    return Uint8Array.from(this.slice(address, length));
  }

  write(address: number, data: Uint8Array): void {
    this.slice(address, data.length).set(data);
  }

  fill(address: number, length: number, value = 0): void {
    this.slice(address, length).fill(value);
  }

  readU8(address: number): number {
    const [view, offset] = this.viewAt(address, 1);
    return view.getUint8(offset);
  }

  readU16(address: number): number {
    const [view, offset] = this.viewAt(address, 2);
    return view.getUint16(offset, true);
  }

  readU32(address: number): number {
    const [view, offset] = this.viewAt(address, 4);
    return view.getUint32(offset, true);
  }

  /** Reads a little-endian u64; throws if it does not fit a JS number exactly. */
  readU64(address: number): number {
    const [view, offset] = this.viewAt(address, 8);
    const low = view.getUint32(offset, true);
    const high = view.getUint32(offset + 4, true);
    if (high >= 0x200000) {
      throw new GuestMemoryError(`u64 at 0x${address.toString(16)} is beyond 2^53`);
    }
    return high * 0x1_0000_0000 + low;
  }

  writeU8(address: number, value: number): void {
    const [view, offset] = this.viewAt(address, 1);
    view.setUint8(offset, value);
  }

  writeU16(address: number, value: number): void {
    const [view, offset] = this.viewAt(address, 2);
    view.setUint16(offset, value, true);
  }

  writeU32(address: number, value: number): void {
    const [view, offset] = this.viewAt(address, 4);
    view.setUint32(offset, value >>> 0, true);
  }

  writeU64(address: number, value: number | bigint): void {
    const [view, offset] = this.viewAt(address, 8);
    view.setBigUint64(offset, BigInt(value), true);
  }

  private viewAt(address: number, length: number): [DataView, number] {
    const i = this.locate(address, length);
    return [this.views[i]!, address - this.regions[i]!.guestAddress];
  }

  private locate(address: number, length: number): number {
    const i = this.find(address, length);
    if (i < 0) {
      throw new GuestMemoryError(`guest range 0x${toHex(address)}+${length} is outside guest memory`);
    }
    return i;
  }

  private find(address: number, length: number): number {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length)) return -1;
    if (address < 0 || length < 0 || address > MAX_SAFE_ADDRESS - length) return -1;
    const end = address + length;
    for (let i = 0; i < this.regions.length; i++) {
      const r = this.regions[i]!;
      if (address >= r.guestAddress && end <= r.guestAddress + r.bytes.length) return i;
    }
    return -1;
  }
}

function toHex(n: number): string {
  return Number.isFinite(n) ? n.toString(16) : String(n);
}
