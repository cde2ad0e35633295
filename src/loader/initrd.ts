// Places an initrd (initramfs archive) in guest RAM.
//
// The boot protocol (Documentation/x86/boot.rst, "initrd_addr_max") says the
// initrd must end at or below the kernel's initrd_addr_max, and it must lie in
// RAM the kernel will not overwrite. Like other loaders, mvm puts it as high as
// possible: the kernel unpacks it early and then frees it, and a high initrd
// leaves the low memory the kernel grows into untouched.
import { BootError, hex } from '../arch/x86_64/boot-error.js';
import { PAGE_SIZE, lowRamEnd, type RamRegion } from '../arch/x86_64/e820.js';
import { HIMEM_START, MMIO_GAP_START, MiB } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/**
 * Highest address an initrd byte may occupy when the kernel does not say
 * (boot.rst: protocol 2.02 and earlier, and any kernel without a setup
 * header such as a plain vmlinux).
 */
export const DEFAULT_INITRD_ADDR_MAX = 0x7fff_ffff;

export interface InitrdPlacement {
  readonly address: number;
  readonly size: number;
}

export interface InitrdConstraints {
  /** The guest's RAM (guestRamRegions): the initrd goes into the part below the MMIO gap. */
  readonly ram: readonly RamRegion[];
  /** [kernelStart, kernelEnd) of the loaded kernel; the initrd must not touch it. */
  readonly kernelStart: number;
  readonly kernelEnd: number;
  /** The kernel's initrd_addr_max (last usable byte); DEFAULT_INITRD_ADDR_MAX when unknown. */
  readonly initrdAddrMax?: number;
}

function alignDown(value: number, alignment: number): number {
  return Math.floor(value / alignment) * alignment;
}

/**
 * The highest page-aligned address at which `size` bytes fit below the
 * limits and clear of the kernel. Free windows are above the kernel and
 * between 1 MiB and the kernel; the higher one that fits wins.
 */
export function placeInitrd(size: number, limits: InitrdConstraints): InitrdPlacement {
  if (!Number.isSafeInteger(size) || size <= 0) throw new BootError('the initrd is empty');
  const addrMax = limits.initrdAddrMax ?? DEFAULT_INITRD_ADDR_MAX;
  // The initrd's last byte must be <= addrMax, so its end may be addrMax + 1.
  const top = Math.min(lowRamEnd(limits.ram), addrMax + 1, MMIO_GAP_START);
  const windows = [
    { start: limits.kernelEnd, end: top },
    { start: HIMEM_START, end: Math.min(limits.kernelStart, top) },
  ];
  for (const window of windows) {
    if (window.end - window.start < size) continue;
    const address = alignDown(window.end - size, PAGE_SIZE);
    if (address >= window.start) return { address, size };
  }
  const sizeMiB = (size / MiB).toFixed(1);
  throw new BootError(
    `the initrd (${sizeMiB} MiB) does not fit in guest RAM below ${hex(top)} next to the kernel ` +
      `(${hex(limits.kernelStart)}–${hex(limits.kernelEnd)}); give the VM more memory`,
  );
}

/** Places the initrd and copies it into guest memory. */
export function loadInitrd(memory: GuestMemory, initrd: Uint8Array, limits: InitrdConstraints): InitrdPlacement {
  const placement = placeInitrd(initrd.length, limits);
  memory.write(placement.address, initrd);
  return placement;
}
