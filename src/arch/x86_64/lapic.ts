// Local APIC interrupt pins as a PC's firmware leaves them: LINT0 in ExtINT
// mode (the 8259 PIC's output reaches the CPU through it, "virtual wire"
// mode, which the MP table's local interrupt entries also announce) and
// LINT1 delivering NMIs. Works on the register page KVM_GET_LAPIC returns
// (struct kvm_lapic_state, the APIC's 1 KiB register page); the KVM layer
// writes the result back with KVM_SET_LAPIC on every vCPU before it runs.
// Register offsets and LVT format: Intel SDM vol. 3A, section 11.5.1,
// table 11-1 and figure 11-8.

/** sizeof(struct kvm_lapic_state): KVM_APIC_REG_SIZE. */
export const LAPIC_STATE_SIZE = 0x400;
/** LVT LINT0 and LVT LINT1 registers. */
export const APIC_LVT0 = 0x350;
export const APIC_LVT1 = 0x360;
/** LVT bits 10:8, delivery mode. */
const DELIVERY_MODE_SHIFT = 8;
const DELIVERY_MODE_MASK = 0x7 << DELIVERY_MODE_SHIFT;
export const APIC_MODE_NMI = 0x4;
export const APIC_MODE_EXTINT = 0x7;

function setDeliveryMode(view: DataView, register: number, mode: number): void {
  const value = view.getUint32(register, true);
  view.setUint32(register, ((value & ~DELIVERY_MODE_MASK) | (mode << DELIVERY_MODE_SHIFT)) >>> 0, true);
}

/** A copy of `state` with LINT0 = ExtINT and LINT1 = NMI; other bits (mask, trigger) kept. */
export function configureLapicLints(state: Uint8Array): Uint8Array {
  if (state.length !== LAPIC_STATE_SIZE) {
    throw new RangeError(`kvm_lapic_state is ${LAPIC_STATE_SIZE} bytes, got ${state.length}`);
  }
  const copy = Uint8Array.from(state);
  const view = new DataView(copy.buffer);
  setDeliveryMode(view, APIC_LVT0, APIC_MODE_EXTINT);
  setDeliveryMode(view, APIC_LVT1, APIC_MODE_NMI);
  return copy;
}
