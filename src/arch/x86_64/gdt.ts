// The boot GDT, and the segment registers derived from its descriptors.
//
// boot.rst, "64-bit Boot Protocol": a GDT must be loaded with flat 4 GiB
// descriptors for __BOOT_CS (selector 0x10, execute/read) and __BOOT_DS
// (0x18, read/write); CS must be __BOOT_CS and DS, ES, SS __BOOT_DS. Slot 1
// stays null (Linux's own boot GDT keeps a 32-bit code segment there, which a
// 64-bit entry does not need). Slot 4 holds a TSS because VMX refuses to enter
// a guest whose TR is unusable; the kernel loads its own TSS later.
//
// Descriptor layout: Intel SDM vol. 3A, section 3.4.5 (segment descriptors,
// figure 3-8) and section 7.2.3 (16-byte TSS descriptor in IA-32e mode).
import { BOOT_GDT_START, BOOT_IDT_START } from './layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { KvmSegment } from '../../kvm/structs.js';

/** The fields of a segment descriptor, named as in struct kvm_segment. */
export interface SegmentDescriptor {
  readonly base: number;
  /** 20-bit limit as stored; in pages when g = 1. */
  readonly limit: number;
  /** Type field (bits 43:40): code/data or system type. */
  readonly type: number;
  /** S (bit 44): 1 for code/data, 0 for system descriptors. */
  readonly s: number;
  /** DPL (bits 46:45). */
  readonly dpl: number;
  /** P (bit 47). */
  readonly present: number;
  /** AVL (bit 52). */
  readonly avl: number;
  /** L (bit 53): 64-bit code segment. */
  readonly l: number;
  /** D/B (bit 54): default operand size 32 bits; must be 0 when L = 1. */
  readonly db: number;
  /** G (bit 55): limit counts 4 KiB units. */
  readonly g: number;
}

/** Type values (SDM vol. 3A, tables 3-1 and 3-2). */
/** Code, execute/read, accessed. */
export const SEGMENT_TYPE_CODE_ER_ACCESSED = 0xb;
/** Data, read/write, accessed. */
export const SEGMENT_TYPE_DATA_RW_ACCESSED = 0x3;
/** System: 64-bit TSS, busy (VMX requires a busy TSS in TR). */
export const SEGMENT_TYPE_TSS64_BUSY = 0xb;

/** Largest 20-bit limit: with G = 1, a flat 4 GiB segment. */
const FLAT_LIMIT = 0xf_ffff;
/** Minimum size of a 64-bit TSS (SDM vol. 3A, figure 7-11) minus one. */
const TSS64_LIMIT = 0x67;

const flat = { base: 0, limit: FLAT_LIMIT, dpl: 0, present: 1, avl: 0, g: 1 } as const;

export const NULL_DESCRIPTOR: SegmentDescriptor = {
  base: 0,
  limit: 0,
  type: 0,
  s: 0,
  dpl: 0,
  present: 0,
  avl: 0,
  l: 0,
  db: 0,
  g: 0,
};
export const CODE64_DESCRIPTOR: SegmentDescriptor = { ...flat, type: SEGMENT_TYPE_CODE_ER_ACCESSED, s: 1, l: 1, db: 0 };
export const DATA_DESCRIPTOR: SegmentDescriptor = { ...flat, type: SEGMENT_TYPE_DATA_RW_ACCESSED, s: 1, l: 0, db: 1 };
export const TSS_DESCRIPTOR: SegmentDescriptor = {
  base: 0,
  limit: TSS64_LIMIT,
  type: SEGMENT_TYPE_TSS64_BUSY,
  s: 0,
  dpl: 0,
  present: 1,
  avl: 0,
  l: 0,
  db: 0,
  g: 0,
};

/** Selectors (index * 8, TI = 0, RPL = 0). */
export const BOOT_CS_SELECTOR = 0x10;
export const BOOT_DS_SELECTOR = 0x18;
export const BOOT_TSS_SELECTOR = 0x20;

/** Bytes per legacy descriptor; the long-mode TSS descriptor takes two slots. */
export const DESCRIPTOR_SIZE = 8;
const TSS_DESCRIPTOR_SIZE = 16;
/** Total GDT size: slots 0-3 plus the 16-byte TSS. */
export const BOOT_GDT_SIZE = BOOT_TSS_SELECTOR + TSS_DESCRIPTOR_SIZE;
/** The boot IDT is empty: a limit of 0 means any vector faults (the kernel installs its own). */
export const BOOT_IDT_LIMIT = 0;

/** Encodes the low 8 bytes of a descriptor as two u32 words (SDM figure 3-8). */
export function encodeDescriptor(d: SegmentDescriptor): [low: number, high: number] {
  const low = (((d.base & 0xffff) << 16) | (d.limit & 0xffff)) >>> 0;
  const access = (d.present << 7) | (d.dpl << 5) | (d.s << 4) | d.type;
  const flags = (d.g << 3) | (d.db << 2) | (d.l << 1) | d.avl;
  const high = ((d.base >>> 24) << 24) | (flags << 20) | (((d.limit >>> 16) & 0xf) << 16) | (access << 8) | ((d.base >>> 16) & 0xff);
  return [low >>> 0, high >>> 0];
}

/** The kvm_segment a CPU would hold after loading `selector` naming descriptor `d`. */
export function segmentFromDescriptor(d: SegmentDescriptor, selector: number): KvmSegment {
  return {
    base: d.base,
    // The CPU expands a page-granular limit to bytes: limit * 4096 + 4095.
    limit: d.g ? (d.limit * 0x1000 + 0xfff) >>> 0 : d.limit,
    selector,
    type: d.type,
    present: d.present,
    dpl: d.dpl,
    db: d.db,
    s: d.s,
    l: d.l,
    g: d.g,
    avl: d.avl,
    unusable: d.present ? 0 : 1,
  };
}

function writeDescriptor(memory: GuestMemory, address: number, d: SegmentDescriptor): void {
  const [low, high] = encodeDescriptor(d);
  memory.writeU32(address, low);
  memory.writeU32(address + 4, high);
}

/** Writes the boot GDT at BOOT_GDT_START and an empty IDT slot at BOOT_IDT_START. */
export function writeBootGdt(memory: GuestMemory): void {
  memory.fill(BOOT_GDT_START, BOOT_GDT_SIZE, 0);
  writeDescriptor(memory, BOOT_GDT_START + BOOT_CS_SELECTOR, CODE64_DESCRIPTOR);
  writeDescriptor(memory, BOOT_GDT_START + BOOT_DS_SELECTOR, DATA_DESCRIPTOR);
  // The TSS descriptor's upper 8 bytes (base 63:32, reserved) stay zero.
  writeDescriptor(memory, BOOT_GDT_START + BOOT_TSS_SELECTOR, TSS_DESCRIPTOR);
  memory.fill(BOOT_IDT_START, DESCRIPTOR_SIZE, 0);
}
