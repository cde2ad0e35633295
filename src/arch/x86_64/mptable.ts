// The Intel MultiProcessor table that tells a kernel without ACPI how many
// CPUs there are, where the I/O APIC is and how ISA interrupts reach it.
//
// Layout: Intel MultiProcessor Specification v1.4, chapter 4: the floating
// pointer structure (4.1, 16 bytes, signature "_MP_") points at the MP
// configuration table (4.2, header "PCMP" + base entries, 4.3). Linux finds
// the floating pointer by scanning, among others, the last KiB of base memory
// (0x9fc00-0xa0000): mvm puts it at EBDA_START and the table right after it,
// all below LEGACY_HOLE_START.
import { BootError } from './boot-error.js';
import { APIC_START, EBDA_START, IOAPIC_PINS, IOAPIC_START, LEGACY_HOLE_START } from './layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';

// ---- Floating pointer structure (MP spec 4.1, table 4-1) -------------------
export const MPF_SIZE = 16;
export const MPF_SIGNATURE = '_MP_';
/** Offsets: physical address pointer, length in 16-byte units, spec revision, checksum, feature bytes 1-5. */
export const MPF_PHYSPTR = 4;
export const MPF_LENGTH = 8;
export const MPF_SPEC_REV = 9;
export const MPF_CHECKSUM = 10;
export const MPF_FEATURE1 = 11;
/** MP spec revision 1.4. */
export const MP_SPEC_REV_1_4 = 4;

// ---- Configuration table header (MP spec 4.2, table 4-2) -------------------
export const MPC_HEADER_SIZE = 44;
export const MPC_SIGNATURE = 'PCMP';
export const MPC_LENGTH = 4;
export const MPC_SPEC_REV = 6;
export const MPC_CHECKSUM = 7;
export const MPC_OEM_ID = 8;
export const MPC_PRODUCT_ID = 16;
export const MPC_ENTRY_COUNT = 34;
export const MPC_LAPIC_ADDRESS = 36;
const OEM_ID = 'MVM     ';
const PRODUCT_ID = 'MICROVM     ';

// ---- Base table entries (MP spec 4.3) ---------------------------------------
export const MP_PROCESSOR = 0;
export const MP_BUS = 1;
export const MP_IOAPIC = 2;
export const MP_INTSRC = 3;
export const MP_LINTSRC = 4;
/** Processor entries are 20 bytes; all others 8 (table 4-3). */
export const MP_PROCESSOR_SIZE = 20;
export const MP_ENTRY_SIZE = 8;
/** Processor entry CPU flags: EN (usable), BP (the bootstrap processor). */
export const CPU_FLAG_ENABLED = 1 << 0;
export const CPU_FLAG_BOOT = 1 << 1;
/** Local APIC version of an integrated xAPIC (0x1x), as KVM's emulated one reports. */
export const LAPIC_VERSION = 0x14;
/** CPU signature (family 6, model 1, stepping 3) and feature flags (FPU, APIC): informational only. */
const CPU_SIGNATURE = (6 << 8) | (1 << 4) | 3;
const CPU_FEATURES = (1 << 0) | (1 << 9);
/** Bus type string for ISA, space-padded to 6 bytes (table 4-8). */
const BUS_TYPE_ISA = 'ISA   ';
export const ISA_BUS_ID = 0;
/** I/O APIC version of the 82093AA-style IOAPIC KVM emulates; flag EN. */
export const IOAPIC_VERSION = 0x11;
const IOAPIC_FLAG_ENABLED = 1;
/** Interrupt types (table 4-10): vectored INT, NMI, ExtINT (8259 pass-through). */
export const MP_INT = 0;
export const MP_NMI = 1;
export const MP_EXTINT = 3;
/** Polarity and trigger "conform to the bus" (ISA: active high, edge). */
const MP_IRQ_FLAGS_CONFORMING = 0;
/** Destination local APIC id 0xff: every local APIC. */
const ALL_LOCAL_APICS = 0xff;
/** Local APIC pins LINT0 (ExtINT from the 8259) and LINT1 (NMI). */
const LINT0 = 0;
const LINT1 = 1;

/** APIC ids are 8 bits; 0xff is the broadcast id and the IOAPIC takes id N. */
export const MP_MAX_CPUS_BY_APIC_ID = 254;

/** Bytes of floating pointer + configuration table for `cpus` CPUs. */
export function mpTableSize(cpus: number): number {
  const fixedEntries = 1 /* bus */ + 1 /* IOAPIC */ + IOAPIC_PINS /* INTSRC */ + 2; /* LINTSRC */
  return MPF_SIZE + MPC_HEADER_SIZE + cpus * MP_PROCESSOR_SIZE + fixedEntries * MP_ENTRY_SIZE;
}

/** Most CPUs the table can describe: 8-bit APIC ids and the space below LEGACY_HOLE_START. */
export function maxMpTableCpus(): number {
  const bySpace = Math.floor((LEGACY_HOLE_START - EBDA_START - mpTableSize(0)) / MP_PROCESSOR_SIZE);
  return Math.min(MP_MAX_CPUS_BY_APIC_ID, bySpace);
}

/** Writes bytes at a cursor and keeps the entry count. */
class TableWriter {
  entryCount = 0;

  constructor(
    private readonly memory: GuestMemory,
    public cursor: number,
  ) {}

  u8(value: number): void {
    this.memory.writeU8(this.cursor, value);
    this.cursor += 1;
  }
  u16(value: number): void {
    this.memory.writeU16(this.cursor, value);
    this.cursor += 2;
  }
  u32(value: number): void {
    this.memory.writeU32(this.cursor, value);
    this.cursor += 4;
  }
  ascii(text: string): void {
    for (const ch of text) this.u8(ch.charCodeAt(0));
  }

  /** Starts a base-table entry of `type`. */
  entry(type: number): void {
    this.u8(type);
    this.entryCount++;
  }

  interrupt(type: number, kind: number, srcBusIrq: number, destId: number, destPin: number): void {
    this.entry(type);
    this.u8(kind);
    this.u16(MP_IRQ_FLAGS_CONFORMING);
    this.u8(ISA_BUS_ID);
    this.u8(srcBusIrq);
    this.u8(destId);
    this.u8(destPin);
  }
}

/** Two's-complement checksum: the byte that makes [address, address+length) sum to 0 mod 256. */
export function mpChecksum(memory: GuestMemory, address: number, length: number): number {
  const sum = memory.read(address, length).reduce((acc, byte) => (acc + byte) & 0xff, 0);
  return (0x100 - sum) & 0xff;
}

/** Writes the MP floating pointer and configuration table for `cpus` CPUs at EBDA_START. */
export function writeMpTable(memory: GuestMemory, cpus: number, base = EBDA_START): void {
  const max = maxMpTableCpus();
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > max) {
    throw new BootError(`${cpus} vCPUs cannot be described: mvm supports 1 to ${max}`);
  }
  const size = mpTableSize(cpus);
  memory.fill(base, size, 0);
  const tableAddress = base + MPF_SIZE;
  const ioapicId = cpus;

  const w = new TableWriter(memory, tableAddress + MPC_HEADER_SIZE);
  for (let apicId = 0; apicId < cpus; apicId++) {
    w.entry(MP_PROCESSOR);
    w.u8(apicId);
    w.u8(LAPIC_VERSION);
    w.u8(CPU_FLAG_ENABLED | (apicId === 0 ? CPU_FLAG_BOOT : 0));
    w.u32(CPU_SIGNATURE);
    w.u32(CPU_FEATURES);
    w.u32(0); // reserved
    w.u32(0); // reserved
  }
  w.entry(MP_BUS);
  w.u8(ISA_BUS_ID);
  w.ascii(BUS_TYPE_ISA);
  w.entry(MP_IOAPIC);
  w.u8(ioapicId);
  w.u8(IOAPIC_VERSION);
  w.u8(IOAPIC_FLAG_ENABLED);
  w.u32(IOAPIC_START);
  // Identity routing: ISA IRQ n and virtio GSI n both arrive on IOAPIC pin n,
  // which matches KVM's default GSI routing for the in-kernel IOAPIC.
  for (let pin = 0; pin < IOAPIC_PINS; pin++) w.interrupt(MP_INTSRC, MP_INT, pin, ioapicId, pin);
  w.interrupt(MP_LINTSRC, MP_EXTINT, 0, ALL_LOCAL_APICS, LINT0);
  w.interrupt(MP_LINTSRC, MP_NMI, 0, ALL_LOCAL_APICS, LINT1);
  const tableLength = w.cursor - tableAddress;

  const h = new TableWriter(memory, tableAddress);
  h.ascii(MPC_SIGNATURE);
  memory.writeU16(tableAddress + MPC_LENGTH, tableLength);
  memory.writeU8(tableAddress + MPC_SPEC_REV, MP_SPEC_REV_1_4);
  h.cursor = tableAddress + MPC_OEM_ID;
  h.ascii(OEM_ID);
  h.ascii(PRODUCT_ID);
  memory.writeU16(tableAddress + MPC_ENTRY_COUNT, w.entryCount);
  memory.writeU32(tableAddress + MPC_LAPIC_ADDRESS, APIC_START);
  memory.writeU8(tableAddress + MPC_CHECKSUM, mpChecksum(memory, tableAddress, tableLength));

  const f = new TableWriter(memory, base);
  f.ascii(MPF_SIGNATURE);
  memory.writeU32(base + MPF_PHYSPTR, tableAddress);
  memory.writeU8(base + MPF_LENGTH, MPF_SIZE / 16);
  memory.writeU8(base + MPF_SPEC_REV, MP_SPEC_REV_1_4);
  // Feature byte 1 = 0: a configuration table is present (no default configuration).
  memory.writeU8(base + MPF_FEATURE1, 0);
  memory.writeU8(base + MPF_CHECKSUM, mpChecksum(memory, base, MPF_SIZE));
}
