// Where a guest's RAM lives in guest-physical space, and the BIOS-style e820
// memory map that tells the kernel so.
//
// RAM starts at 0 and runs up to the 32-bit MMIO gap (3 GiB); whatever does
// not fit below the gap continues at 4 GiB. The low region is one KVM memory
// slot including the legacy hole at 640 KiB–1 MiB; the e820 map marks that
// hole (and the EBDA holding the MP table) reserved so the kernel leaves it alone.
import { BootError } from './boot-error.js';
import { EBDA_START, GiB, HIMEM_START, MMIO_GAP_END, MMIO_GAP_START, MiB } from './layout.js';

/** e820 types (ACPI spec 6.4, table 15.312 "Address Range Types"). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;

/** KVM memory slots and the e820 map work in whole 4 KiB pages. */
export const PAGE_SIZE = 4096;
/**
 * Smallest RAM the layout can describe: the boot structures below 1 MiB plus
 * some extended memory. A real kernel needs far more; the ELF loader says so
 * when its segments do not fit.
 */
export const MIN_MEMORY_SIZE = 2 * MiB;
/**
 * Largest guest: guest-physical addresses must fit the CPU's address width
 * (46 bits is the smallest common among KVM hosts) and a JS number exactly.
 */
export const MAX_MEMORY_SIZE = 2 ** 46 - MMIO_GAP_END;

/** One run of guest-physical RAM that the VMM backs with a KVM memory slot. */
export interface RamRegion {
  readonly guestAddress: number;
  readonly size: number;
}

/** One e820 entry: [address, address + size) has `type`. */
export interface E820Entry {
  readonly address: number;
  readonly size: number;
  readonly type: number;
}

/** Refuses RAM sizes the layout cannot describe, with a message the user can act on. */
export function checkMemorySize(memorySize: number): void {
  if (!Number.isSafeInteger(memorySize) || memorySize % PAGE_SIZE !== 0) {
    throw new BootError(`guest memory size ${memorySize} is not a whole number of 4 KiB pages`);
  }
  if (memorySize < MIN_MEMORY_SIZE) {
    throw new BootError(`guest memory of ${memorySize} bytes is too small; the minimum is ${MIN_MEMORY_SIZE / MiB} MiB`);
  }
  if (memorySize > MAX_MEMORY_SIZE) {
    throw new BootError(`guest memory of ${memorySize} bytes is too large; the maximum is ${MAX_MEMORY_SIZE / GiB} GiB`);
  }
}

/** The guest-physical regions KVM must map for `memorySize` bytes of RAM: low, then high if any. */
export function guestRamRegions(memorySize: number): RamRegion[] {
  checkMemorySize(memorySize);
  const lowSize = Math.min(memorySize, MMIO_GAP_START);
  const regions: RamRegion[] = [{ guestAddress: 0, size: lowSize }];
  if (memorySize > lowSize) regions.push({ guestAddress: MMIO_GAP_END, size: memorySize - lowSize });
  return regions;
}

/** End of the RAM below the MMIO gap (the RAM from guestRamRegions), i.e. the highest address usable for 32-bit data. */
export function lowRamEnd(ram: readonly RamRegion[]): number {
  return ram[0]!.size;
}

/** The e820 map announcing `ram` (from guestRamRegions), sorted and non-overlapping. */
export function e820Map(ram: readonly RamRegion[]): E820Entry[] {
  const low = ram[0]!;
  const entries: E820Entry[] = [
    // Conventional memory up to the EBDA, where the MP table lives.
    { address: 0, size: EBDA_START, type: E820_RAM },
    // EBDA, VGA hole and BIOS area: reserved, as on a PC.
    { address: EBDA_START, size: HIMEM_START - EBDA_START, type: E820_RESERVED },
    // Extended memory: from 1 MiB to the end of RAM or the MMIO gap.
    { address: HIMEM_START, size: low.size - HIMEM_START, type: E820_RAM },
  ];
  const high = ram[1];
  if (high) entries.push({ address: high.guestAddress, size: high.size, type: E820_RAM });
  return entries;
}
