// Byte layouts of the <linux/kvm.h> structs mvm passes to ioctls (x86_64).
// Encoding by hand with DataView keeps FFI marshalling out of the hot path and
// makes each offset visible next to the struct it belongs to.

type U64 = number | bigint;

function setU64(view: DataView, offset: number, value: U64): void {
  view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- kvm_regs: 18 u64 in this order --------------------------------------

export const REGS_SIZE = 144;
const REG_NAMES = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rsp',
  'rbp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
  'rflags',
] as const;
export type RegisterName = (typeof REG_NAMES)[number];
export type KvmRegs = Record<RegisterName, bigint>;
export type KvmRegsInput = Partial<Record<RegisterName, U64>>;

export function encodeRegs(regs: KvmRegsInput): Uint8Array {
  const bytes = new Uint8Array(REGS_SIZE);
  const view = viewOf(bytes);
  REG_NAMES.forEach((name, i) => {
    setU64(view, i * 8, regs[name] ?? 0);
  });
  return bytes;
}

export function decodeRegs(bytes: Uint8Array): KvmRegs {
  const view = viewOf(bytes);
  const regs = {} as KvmRegs;
  REG_NAMES.forEach((name, i) => {
    regs[name] = view.getBigUint64(i * 8, true);
  });
  return regs;
}

// ---- kvm_segment (24 bytes), kvm_dtable (16), kvm_sregs (312) ---------------

export interface KvmSegment {
  base: U64;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable?: number;
}

export interface KvmDtable {
  base: U64;
  limit: number;
}

export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: U64;
  cr2: U64;
  cr3: U64;
  cr4: U64;
  cr8: U64;
  efer: U64;
  apic_base: U64;
}

export const SREGS_SIZE = 312;
const SEGMENT_SIZE = 24;
const SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const GDT_OFFSET = 8 * SEGMENT_SIZE; // 192
const IDT_OFFSET = GDT_OFFSET + 16; // 208
const CR0_OFFSET = IDT_OFFSET + 16; // 224, then cr2 cr3 cr4 cr8 efer apic_base
const CONTROL_NAMES = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;

function encodeSegment(view: DataView, at: number, s: KvmSegment): void {
  setU64(view, at, s.base);
  view.setUint32(at + 8, s.limit >>> 0, true);
  view.setUint16(at + 12, s.selector, true);
  const flags = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable ?? 0];
  flags.forEach((v, i) => {
    view.setUint8(at + 14 + i, v);
  });
}

function decodeSegment(view: DataView, at: number): KvmSegment {
  const u8 = (i: number) => view.getUint8(at + 14 + i);
  return {
    base: view.getBigUint64(at, true),
    limit: view.getUint32(at + 8, true),
    selector: view.getUint16(at + 12, true),
    type: u8(0),
    present: u8(1),
    dpl: u8(2),
    db: u8(3),
    s: u8(4),
    l: u8(5),
    g: u8(6),
    avl: u8(7),
    unusable: u8(8),
  };
}

/**
 * Encodes sregs over the bytes KVM_GET_SREGS returned, so fields mvm does not
 * set (the pending-interrupt bitmap) keep KVM's values.
 */
export function encodeSregs(sregs: KvmSregs, base: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(base);
  const view = viewOf(bytes);
  SEGMENTS.forEach((name, i) => {
    encodeSegment(view, i * SEGMENT_SIZE, sregs[name]);
  });
  for (const [at, table] of [
    [GDT_OFFSET, sregs.gdt],
    [IDT_OFFSET, sregs.idt],
  ] as const) {
    setU64(view, at, table.base);
    view.setUint16(at + 8, table.limit, true);
  }
  CONTROL_NAMES.forEach((name, i) => {
    setU64(view, CR0_OFFSET + i * 8, sregs[name]);
  });
  return bytes;
}

export function decodeSregs(bytes: Uint8Array): KvmSregs {
  const view = viewOf(bytes);
  const seg = (i: number) => decodeSegment(view, i * SEGMENT_SIZE);
  const table = (at: number): KvmDtable => ({ base: view.getBigUint64(at, true), limit: view.getUint16(at + 8, true) });
  const cr = (i: number) => view.getBigUint64(CR0_OFFSET + i * 8, true);
  return {
    cs: seg(0),
    ds: seg(1),
    es: seg(2),
    fs: seg(3),
    gs: seg(4),
    ss: seg(5),
    tr: seg(6),
    ldt: seg(7),
    gdt: table(GDT_OFFSET),
    idt: table(IDT_OFFSET),
    cr0: cr(0),
    cr2: cr(1),
    cr3: cr(2),
    cr4: cr(3),
    cr8: cr(4),
    efer: cr(5),
    apic_base: cr(6),
  };
}

// ---- kvm_msrs: header {u32 nmsrs, u32 pad} + {u32 index, u32 reserved, u64 data}[] ----

export interface MsrEntry {
  index: number;
  data: U64;
}

export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const bytes = new Uint8Array(8 + entries.length * 16);
  const view = viewOf(bytes);
  view.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    view.setUint32(8 + i * 16, e.index >>> 0, true);
    setU64(view, 8 + i * 16 + 8, e.data);
  });
  return bytes;
}

// ---- kvm_cpuid2: header {u32 nent, u32 pad} + kvm_cpuid_entry2[] (40 bytes each) ----

/** struct kvm_cpuid_entry2 (the padding left out). */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

const CPUID_ENTRY_SIZE = 40;
const CPUID_FIELDS = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

export function cpuidBuffer(capacity: number): Uint8Array {
  const bytes = new Uint8Array(8 + capacity * CPUID_ENTRY_SIZE);
  viewOf(bytes).setUint32(0, capacity, true);
  return bytes;
}

export function encodeCpuid(entries: readonly CpuidEntry[]): Uint8Array {
  const bytes = cpuidBuffer(entries.length);
  const view = viewOf(bytes);
  entries.forEach((e, i) => {
    CPUID_FIELDS.forEach((f, j) => {
      view.setUint32(8 + i * CPUID_ENTRY_SIZE + j * 4, e[f] >>> 0, true);
    });
  });
  return bytes;
}

export function decodeCpuid(bytes: Uint8Array): CpuidEntry[] {
  const view = viewOf(bytes);
  const count = view.getUint32(0, true);
  const entries: CpuidEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + i * CPUID_ENTRY_SIZE;
    const get = (j: number) => view.getUint32(at + j * 4, true);
    entries.push({ function: get(0), index: get(1), flags: get(2), eax: get(3), ebx: get(4), ecx: get(5), edx: get(6) });
  }
  return entries;
}

// ---- small argument structs ------------------------------------------------------

/** kvm_userspace_memory_region: u32 slot, u32 flags, u64 guest_phys_addr, u64 memory_size, u64 userspace_addr. */
export function encodeMemoryRegion(slot: number, flags: number, guestAddress: number, size: number, hostAddress: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  const view = viewOf(bytes);
  view.setUint32(0, slot, true);
  view.setUint32(4, flags, true);
  setU64(view, 8, guestAddress);
  setU64(view, 16, size);
  setU64(view, 24, hostAddress);
  return bytes;
}

/** kvm_irq_level: u32 irq, u32 level. */
export function encodeIrqLevel(irq: number, level: number): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = viewOf(bytes);
  view.setUint32(0, irq, true);
  view.setUint32(4, level, true);
  return bytes;
}

/** kvm_pit_config: u32 flags, u32 pad[15]. */
export function encodePitConfig(flags: number): Uint8Array {
  const bytes = new Uint8Array(64);
  viewOf(bytes).setUint32(0, flags, true);
  return bytes;
}

/** kvm_irqfd: u32 fd, u32 gsi, u32 flags, u32 resamplefd, u8 pad[16]. */
export function encodeIrqfd(fd: number, gsi: number, flags: number): Uint8Array {
  const bytes = new Uint8Array(32);
  const view = viewOf(bytes);
  view.setUint32(0, fd, true);
  view.setUint32(4, gsi, true);
  view.setUint32(8, flags, true);
  return bytes;
}

/** kvm_ioeventfd: u64 datamatch, u64 addr, u32 len, s32 fd, u32 flags, u8 pad[36]. */
export function encodeIoeventfd(address: number, length: number, fd: number, flags: number, datamatch: U64 = 0): Uint8Array {
  const bytes = new Uint8Array(64);
  const view = viewOf(bytes);
  setU64(view, 0, datamatch);
  setU64(view, 8, address);
  view.setUint32(16, length, true);
  view.setInt32(20, fd, true);
  view.setUint32(24, flags, true);
  return bytes;
}

/** kvm_mp_state: u32. */
export function encodeMpState(state: number): Uint8Array {
  const bytes = new Uint8Array(4);
  viewOf(bytes).setUint32(0, state, true);
  return bytes;
}

// ---- kvm_vcpu_events (64 bytes): only what says whether a vCPU can still be woken

export const VCPU_EVENTS_SIZE = 64;
/** struct kvm_vcpu_events: exception (8 bytes), interrupt (4), then nmi { injected, pending, masked, pad } at 12. */
const EVENTS_NMI_INJECTED = 12;
const EVENTS_NMI_PENDING = 13;

export interface VcpuEvents {
  /** An NMI is being delivered or waits to be: it would wake a halted vCPU whatever RFLAGS.IF says. */
  readonly nmiPendingOrInjected: boolean;
}

export function decodeVcpuEvents(bytes: Uint8Array): VcpuEvents {
  const view = viewOf(bytes);
  return { nmiPendingOrInjected: view.getUint8(EVENTS_NMI_INJECTED) !== 0 || view.getUint8(EVENTS_NMI_PENDING) !== 0 };
}
