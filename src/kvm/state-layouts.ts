// Byte layouts of the <linux/kvm.h> structs that hold a vCPU's or a VM's
// state (x86_64), as a snapshot saves and restores them. Most are kept as the
// opaque bytes KVM hands out and takes back: mvm only checks their size, and
// decodes the few fields it has to reason about (MSR lists, the clock).
// Sizes checked against a C program including <linux/kvm.h> (spec/kvm/state-layouts.spec.ts).

type U64 = number | bigint;

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** sizeof(struct kvm_fpu): x87 registers, FCW/FSW/…, 16 XMM registers, MXCSR. */
export const FPU_BYTES = 416;
/** sizeof(struct kvm_xsave): the legacy 4 KiB XSAVE area (KVM_GET_XSAVE2 may need more). */
export const XSAVE_BYTES = 4096;
/** sizeof(struct kvm_xcrs): u32 nr_xcrs, u32 flags, 16 × {u32 xcr, u32 reserved, u64 value}, u64 padding[16]. */
export const XCRS_BYTES = 392;
/** sizeof(struct kvm_debugregs): db[4], dr6, dr7, flags, reserved[9]. */
export const DEBUGREGS_BYTES = 128;
/** sizeof(struct kvm_vcpu_events). */
export const VCPU_EVENTS_BYTES = 64;
/** sizeof(struct kvm_lapic_state): the local APIC's register page. */
export const LAPIC_BYTES = 0x400;
/** sizeof(struct kvm_irqchip): u32 chip_id, u32 pad, then a 512-byte union (PIC or IOAPIC state). */
export const IRQCHIP_BYTES = 520;
/** Where kvm_irqchip's chip state starts, and its length. */
export const IRQCHIP_STATE_OFFSET = 8;
export const IRQCHIP_STATE_BYTES = 512;
/** sizeof(struct kvm_pit_state2): 3 channels × 24 bytes, u32 flags, u32 reserved[9]. */
export const PIT_STATE_BYTES = 112;
/** sizeof(struct kvm_clock_data): u64 clock, u32 flags, u32 pad0, u64 realtime, u64 host_tsc, u32 pad[4]. */
export const CLOCK_DATA_BYTES = 48;

// ---- kvm_msr_list: u32 nmsrs, then u32 indices[nmsrs] ----------------------------

export function msrListBuffer(capacity: number): Uint8Array {
  const bytes = new Uint8Array(4 + capacity * 4);
  viewOf(bytes).setUint32(0, capacity, true);
  return bytes;
}

/** How many indices the list holds (after E2BIG: how many KVM has). */
export function msrListCount(bytes: Uint8Array): number {
  return viewOf(bytes).getUint32(0, true);
}

export function decodeMsrList(bytes: Uint8Array): number[] {
  const view = viewOf(bytes);
  const count = Math.min(view.getUint32(0, true), (bytes.length - 4) / 4);
  const indices: number[] = [];
  for (let i = 0; i < count; i++) indices.push(view.getUint32(4 + i * 4, true));
  return indices;
}

// ---- kvm_msrs read back: header {u32 nmsrs, u32 pad} + {u32 index, u32 reserved, u64 data}[] ----

/** One MSR as KVM_GET_MSRS returned it (data always a bigint). */
export interface MsrValue {
  readonly index: number;
  readonly data: bigint;
}

/** A kvm_msrs request for `indices`, data zeroed for KVM to fill in. */
export function msrReadBuffer(indices: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(8 + indices.length * 16);
  const view = viewOf(bytes);
  view.setUint32(0, indices.length, true);
  indices.forEach((index, i) => {
    view.setUint32(8 + i * 16, index >>> 0, true);
  });
  return bytes;
}

/** The first `count` entries of a kvm_msrs buffer. */
export function decodeMsrs(bytes: Uint8Array, count: number): MsrValue[] {
  const view = viewOf(bytes);
  const values: MsrValue[] = [];
  for (let i = 0; i < count; i++) values.push({ index: view.getUint32(8 + i * 16, true), data: view.getBigUint64(8 + i * 16 + 8, true) });
  return values;
}

// ---- kvm_clock_data ---------------------------------------------------------------

/** kvm_clock_data.flags: the clock is the same on every host CPU (a stable TSC). */
export const KVM_CLOCK_TSC_STABLE = 2;

/** The guest's kvmclock in nanoseconds, from kvm_clock_data. */
export function clockNanoseconds(bytes: Uint8Array): bigint {
  return viewOf(bytes).getBigUint64(0, true);
}

/**
 * A kvm_clock_data for KVM_SET_CLOCK: just the clock. Flags are left 0, so
 * KVM sets the clock to this value now, not adjusted by a realtime or host TSC
 * reading taken on another host or at another time.
 */
export function encodeClock(nanoseconds: U64): Uint8Array {
  const bytes = new Uint8Array(CLOCK_DATA_BYTES);
  viewOf(bytes).setBigUint64(0, BigInt.asUintN(64, BigInt(nanoseconds)), true);
  return bytes;
}
