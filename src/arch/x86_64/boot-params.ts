// The Linux "zero page" (struct boot_params) for the 64-bit boot protocol.
//
// Documentation/x86/boot.rst, "64-bit Boot Protocol": the loader zeroes a
// boot_params, fills the setup header (offset 0x1f1 on) as for the 16-bit
// protocol plus the fields of Documentation/x86/zero-page.rst, and enters the
// kernel's 64-bit entry with %rsi holding the boot_params address. A vmlinux
// has no setup header of its own to copy, so every field the kernel reads is
// written here. Offsets are from the start of boot_params; the setup-header
// table in boot.rst gives the same offsets ("Offset/Size" column).
import { BootError } from './boot-error.js';
import type { E820Entry } from './e820.js';
import { ZERO_PAGE_START } from './layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';

/** sizeof(struct boot_params): one page. */
export const ZERO_PAGE_SIZE = 4096;

// ---- zero-page.rst ---------------------------------------------------------
/** 0x0c0/4 ext_ramdisk_image: bits 63:32 of ramdisk_image. */
export const EXT_RAMDISK_IMAGE = 0x0c0;
/** 0x0c4/4 ext_ramdisk_size: bits 63:32 of ramdisk_size. */
export const EXT_RAMDISK_SIZE = 0x0c4;
/** 0x0c8/4 ext_cmd_line_ptr: bits 63:32 of cmd_line_ptr. */
export const EXT_CMD_LINE_PTR = 0x0c8;
/** 0x1e8/1 e820_entries: number of entries in e820_table. */
export const E820_ENTRIES = 0x1e8;
/** 0x1ef/1 sentinel: a non-zero value makes the kernel wipe fields it distrusts; must stay 0. */
export const SENTINEL = 0x1ef;
/** 0x2d0/2560 e820_table: up to 128 struct boot_e820_entry {u64 addr; u64 size; u32 type}. */
export const E820_TABLE = 0x2d0;
export const E820_ENTRY_SIZE = 20;
/** E820_MAX_ENTRIES_ZEROPAGE. */
export const E820_MAX_ENTRIES = 128;

// ---- setup header (boot.rst, "The Real-Mode Kernel Header") ---------------
/** 0x1fe/2 boot_flag: 0xAA55. */
export const HDR_BOOT_FLAG = 0x1fe;
export const BOOT_FLAG_MAGIC = 0xaa55;
/** 0x202/4 header: "HdrS" (0x53726448 little-endian). */
export const HDR_HEADER = 0x202;
export const HEADER_MAGIC = 0x5372_6448;
/** 0x206/2 version: boot protocol version the loader speaks. */
export const HDR_VERSION = 0x206;
/** 2.12 (Linux 3.8): the version that added xloadflags and the ext_* fields written here. */
export const BOOT_PROTOCOL_VERSION = 0x020c;
/** 0x210/1 type_of_loader: 0xff = "undefined" (no assigned boot loader id). */
export const HDR_TYPE_OF_LOADER = 0x210;
export const LOADER_TYPE_UNDEFINED = 0xff;
/** 0x211/1 loadflags. */
export const HDR_LOADFLAGS = 0x211;
/** loadflags bit 0 LOADED_HIGH: the protected-mode kernel is at 0x100000 or above. */
export const LOADFLAG_LOADED_HIGH = 1 << 0;
/** 0x218/4 ramdisk_image: physical address of the initrd. */
export const HDR_RAMDISK_IMAGE = 0x218;
/** 0x21c/4 ramdisk_size: its size in bytes. */
export const HDR_RAMDISK_SIZE = 0x21c;
/** 0x228/4 cmd_line_ptr: physical address of the NUL-terminated command line. */
export const HDR_CMD_LINE_PTR = 0x228;
/** 0x230/4 kernel_alignment: physical alignment the kernel was built for. */
export const HDR_KERNEL_ALIGNMENT = 0x230;
/** CONFIG_PHYSICAL_ALIGN default on x86_64: 16 MiB (where vmlinux is linked). */
export const DEFAULT_KERNEL_ALIGNMENT = 0x100_0000;
/**
 * 0x238/4 cmdline_size: in a kernel image this is the longest line the kernel
 * accepts; mvm has no image header to copy and writes the actual length (no NUL).
 */
export const HDR_CMDLINE_SIZE = 0x238;
/** 0x23c/4 hardware_subarch: 0 = X86_SUBARCH_PC, a normal PC. */
export const HDR_HARDWARE_SUBARCH = 0x23c;
export const X86_SUBARCH_PC = 0;

const TWO_POW_32 = 0x1_0000_0000;

export interface BootParamsConfig {
  readonly cmdlineAddress: number;
  /** Command line length without the terminating NUL. */
  readonly cmdlineLength: number;
  readonly e820: readonly E820Entry[];
  readonly initrd?: { readonly address: number; readonly size: number };
}

function low32(value: number): number {
  return value % TWO_POW_32;
}

function high32(value: number): number {
  return Math.floor(value / TWO_POW_32);
}

/** Zeroes the page at ZERO_PAGE_START and fills in what the kernel reads. */
export function writeBootParams(memory: GuestMemory, config: BootParamsConfig, base = ZERO_PAGE_START): void {
  if (config.e820.length === 0 || config.e820.length > E820_MAX_ENTRIES) {
    throw new BootError(`the e820 map has ${config.e820.length} entries; the zero page holds 1 to ${E820_MAX_ENTRIES}`);
  }
  memory.fill(base, ZERO_PAGE_SIZE, 0);

  memory.writeU16(base + HDR_BOOT_FLAG, BOOT_FLAG_MAGIC);
  memory.writeU32(base + HDR_HEADER, HEADER_MAGIC);
  memory.writeU16(base + HDR_VERSION, BOOT_PROTOCOL_VERSION);
  memory.writeU8(base + HDR_TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  memory.writeU8(base + HDR_LOADFLAGS, LOADFLAG_LOADED_HIGH);
  memory.writeU32(base + HDR_KERNEL_ALIGNMENT, DEFAULT_KERNEL_ALIGNMENT);
  memory.writeU32(base + HDR_HARDWARE_SUBARCH, X86_SUBARCH_PC);

  memory.writeU32(base + HDR_CMD_LINE_PTR, low32(config.cmdlineAddress));
  memory.writeU32(base + EXT_CMD_LINE_PTR, high32(config.cmdlineAddress));
  memory.writeU32(base + HDR_CMDLINE_SIZE, config.cmdlineLength);

  if (config.initrd) {
    memory.writeU32(base + HDR_RAMDISK_IMAGE, low32(config.initrd.address));
    memory.writeU32(base + EXT_RAMDISK_IMAGE, high32(config.initrd.address));
    memory.writeU32(base + HDR_RAMDISK_SIZE, low32(config.initrd.size));
    memory.writeU32(base + EXT_RAMDISK_SIZE, high32(config.initrd.size));
  }

  memory.writeU8(base + E820_ENTRIES, config.e820.length);
  config.e820.forEach((entry, i) => {
    const at = base + E820_TABLE + i * E820_ENTRY_SIZE;
    memory.writeU64(at, entry.address);
    memory.writeU64(at + 8, entry.size);
    memory.writeU32(at + 16, entry.type);
  });
}

/** The fields writeBootParams sets, read back; used by specs and diagnostics. */
export function readBootParams(memory: GuestMemory, base = ZERO_PAGE_START) {
  const e820: E820Entry[] = [];
  const count = memory.readU8(base + E820_ENTRIES);
  for (let i = 0; i < Math.min(count, E820_MAX_ENTRIES); i++) {
    const at = base + E820_TABLE + i * E820_ENTRY_SIZE;
    e820.push({ address: memory.readU64(at), size: memory.readU64(at + 8), type: memory.readU32(at + 16) });
  }
  return {
    bootFlag: memory.readU16(base + HDR_BOOT_FLAG),
    header: memory.readU32(base + HDR_HEADER),
    version: memory.readU16(base + HDR_VERSION),
    typeOfLoader: memory.readU8(base + HDR_TYPE_OF_LOADER),
    loadflags: memory.readU8(base + HDR_LOADFLAGS),
    kernelAlignment: memory.readU32(base + HDR_KERNEL_ALIGNMENT),
    cmdlinePtr: memory.readU32(base + HDR_CMD_LINE_PTR) + memory.readU32(base + EXT_CMD_LINE_PTR) * TWO_POW_32,
    cmdlineSize: memory.readU32(base + HDR_CMDLINE_SIZE),
    ramdiskImage: memory.readU32(base + HDR_RAMDISK_IMAGE) + memory.readU32(base + EXT_RAMDISK_IMAGE) * TWO_POW_32,
    ramdiskSize: memory.readU32(base + HDR_RAMDISK_SIZE) + memory.readU32(base + EXT_RAMDISK_SIZE) * TWO_POW_32,
    sentinel: memory.readU8(base + SENTINEL),
    e820,
  };
}
