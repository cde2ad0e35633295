// Address-range maps from guest port-I/O or MMIO addresses to devices. Each
// device sees offsets relative to its own base, never absolute addresses.
// Ranges may not overlap: a second device claiming a taken range is a bug in
// the VMM's layout and is refused when it is registered.
//
// Below the devices and the virtio transport, which implement BusDevice, and
// the VMM, which owns the buses and registers the devices on them.

/** What a device on a bus implements. `data.length` is the access width. */
export interface BusDevice {
  /** Fill `data` with the value read at `offset`. */
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface Range {
  readonly base: number;
  readonly size: number;
  readonly device: BusDevice;
  readonly name: string;
}

export class BusOverlapError extends Error {}

/** Counts of accesses nobody claimed; a guest probing for hardware is normal, so this never fails. */
export interface UnclaimedCounts {
  reads: number;
  writes: number;
}

export class Bus {
  private ranges: Range[] = [];
  readonly unclaimed: UnclaimedCounts = { reads: 0, writes: 0 };

  constructor(readonly kind: 'pio' | 'mmio') {}

  register(name: string, base: number, size: number, device: BusDevice): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || size <= 0 || base < 0) {
      throw new RangeError(`${this.kind} range for ${name} is invalid: base ${base}, size ${size}`);
    }
    for (const r of this.ranges) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new BusOverlapError(
          `${this.kind} range 0x${base.toString(16)}+0x${size.toString(16)} for ${name} overlaps ${r.name} at 0x${r.base.toString(16)}`,
        );
      }
    }
    this.ranges.push({ base, size, device, name });
    this.ranges.sort((a, b) => a.base - b.base);
  }

  /**
   * Dispatches a read. An unclaimed read returns all ones, as a floating ISA
   * bus does, so probing guests conclude that nothing is there.
   */
  read(address: number, data: Uint8Array): void {
    const hit = this.find(address, data.length);
    if (hit) {
      hit.device.read(address - hit.base, data);
    } else {
      data.fill(this.kind === 'pio' ? 0xff : 0);
      this.unclaimed.reads++;
    }
  }

  /** Dispatches a write; an unclaimed write is dropped and counted. */
  write(address: number, data: Uint8Array): void {
    const hit = this.find(address, data.length);
    if (hit) hit.device.write(address - hit.base, data);
    else this.unclaimed.writes++;
  }

  private find(address: number, length: number): Range | undefined {
    // Few ranges per bus (a handful of legacy devices, up to 32 virtio slots): a scan is fastest.
    for (const r of this.ranges) {
      if (address >= r.base && address + length <= r.base + r.size) return r;
    }
    return undefined;
  }
}
