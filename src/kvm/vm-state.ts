// What KVM holds for the VM as a whole, besides its memory and vCPUs: the
// in-kernel interrupt controllers, the PIT and the kvmclock. Saved while every
// vCPU is out of KVM_RUN; restored into a VM created the same way (irqchip and
// PIT2 already there) before its vCPUs restore theirs and run.
import { IrqchipId } from './ioctls.js';
import { clockNanoseconds } from './state-layouts.js';
import type { VmFd } from './vm.js';

export interface VmState {
  readonly picMaster: Uint8Array;
  readonly picSlave: Uint8Array;
  readonly ioapic: Uint8Array;
  /** struct kvm_pit_state2. */
  readonly pit: Uint8Array;
  /** The guest's kvmclock, in nanoseconds, when the VM was paused. */
  readonly clockNs: bigint;
}

export function saveVmState(vm: VmFd): VmState {
  return {
    picMaster: vm.getIrqchip(IrqchipId.PIC_MASTER),
    picSlave: vm.getIrqchip(IrqchipId.PIC_SLAVE),
    ioapic: vm.getIrqchip(IrqchipId.IOAPIC),
    pit: vm.getPit(),
    clockNs: clockNanoseconds(vm.getClock()),
  };
}

/**
 * The guest's kvmclock resumes from where it stopped, so the time the VM
 * spent saved does not pass for the guest: its wall clock is behind until
 * something sets it right (the snapshot layer's business, not KVM's).
 */
export function restoreVmState(vm: VmFd, state: VmState): void {
  vm.setClock(state.clockNs);
  vm.setIrqchip(IrqchipId.PIC_MASTER, state.picMaster);
  vm.setIrqchip(IrqchipId.PIC_SLAVE, state.picSlave);
  vm.setIrqchip(IrqchipId.IOAPIC, state.ioapic);
  vm.setPit(state.pit);
}
