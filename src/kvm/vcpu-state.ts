// Everything KVM holds about one vCPU, read out and written back in the order
// KVM needs. CPUID is not part of it: the VMM sets the same CPUID on a fresh
// vCPU before restoring (a snapshot records which, and refuses a mismatch).
//
// Save only while no thread is inside this vCPU's KVM_RUN, and only after a
// KVM_RUN that returned by itself or by a kick (immediate_exit): a port-I/O or
// MMIO exit is completed by KVM on the *next* KVM_RUN (RIP still points at the
// instruction on AMD-V), so state read right after one would replay it.
import { UserError } from '../errors.js';
import { Capability } from './ioctls.js';
import type { MsrValue } from './state-layouts.js';
import type { VcpuFd } from './vcpu.js';
import type { VmFd } from './vm.js';

/** IA32_TIME_STAMP_COUNTER. */
export const MSR_IA32_TSC = 0x10;
/** IA32_TSC_DEADLINE: an absolute TSC value, so only meaningful once the TSC is restored. */
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
/** kvmclock's per-vCPU time page and the wall-clock page (the "new" paravirt MSR numbers). */
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;

/** Which optional parts of the state this host's KVM can read and write. */
export interface VcpuStateSupport {
  /** Bytes of the XSAVE area (4096, more with AMX), or 0: no XSAVE, the legacy FPU state instead. */
  readonly xsaveBytes: number;
  readonly xcrs: boolean;
  readonly tscKhz: boolean;
  /** KVM can run a guest at a TSC frequency other than the host's. */
  readonly tscScaling: boolean;
}

export function vcpuStateSupport(vm: VmFd): VcpuStateSupport {
  const xsave2 = vm.checkExtension(Capability.XSAVE2);
  const xsave = vm.checkExtension(Capability.XSAVE) > 0;
  return {
    xsaveBytes: xsave2 > 0 ? xsave2 : xsave ? 4096 : 0,
    xcrs: vm.checkExtension(Capability.XCRS) > 0,
    tscKhz: vm.checkExtension(Capability.GET_TSC_KHZ) > 0,
    tscScaling: vm.checkExtension(Capability.TSC_CONTROL) > 0,
  };
}

export interface VcpuState {
  readonly id: number;
  /** kvm_mp_state: running, halted, waiting for SIPI… */
  readonly mpState: number;
  readonly regs: Uint8Array;
  readonly sregs: Uint8Array;
  /** Exactly one of these two: the XSAVE area where KVM has XSAVE, else struct kvm_fpu. */
  readonly xsave?: Uint8Array;
  readonly fpu?: Uint8Array;
  readonly xcrs?: Uint8Array;
  readonly debugRegs: Uint8Array;
  readonly lapic: Uint8Array;
  readonly msrs: readonly MsrValue[];
  readonly events: Uint8Array;
  /** The guest's TSC frequency, 0 when KVM cannot tell. */
  readonly tscKhz: number;
}

/**
 * Reads the MSRs `indices` that this vCPU has, skipping each one KVM refuses
 * (an MSR the host lists but this vCPU's CPUID does not give it).
 */
export function readMsrs(vcpu: VcpuFd, indices: readonly number[]): MsrValue[] {
  const values: MsrValue[] = [];
  let pending = indices;
  while (pending.length > 0) {
    const read = vcpu.getMsrs(pending);
    values.push(...read);
    // KVM stopped at pending[read.length]: leave that one out and go on after it.
    pending = pending.slice(read.length + 1);
  }
  return values;
}

export function saveVcpuState(vcpu: VcpuFd, msrIndices: readonly number[], support: VcpuStateSupport): VcpuState {
  // MP state first: reading it makes KVM process pending INIT/SIPI events, which may change the rest.
  const mpState = vcpu.getMpState();
  return {
    id: vcpu.id,
    mpState,
    regs: vcpu.getRegsBytes(),
    sregs: vcpu.getSregsRaw(),
    ...(support.xsaveBytes > 0 ? { xsave: vcpu.getXsave(support.xsaveBytes) } : { fpu: vcpu.getFpu() }),
    ...(support.xcrs ? { xcrs: vcpu.getXcrs() } : {}),
    debugRegs: vcpu.getDebugRegs(),
    lapic: vcpu.getLapic(),
    msrs: readMsrs(vcpu, msrIndices),
    events: vcpu.getVcpuEventsBytes(),
    tscKhz: support.tscKhz ? vcpu.getTscKhz() : 0,
  };
}

/**
 * The order MSRs are written back in: the TSC before anything measured
 * against it, the TSC deadline (an absolute TSC value, ignored unless the
 * LAPIC timer is in deadline mode) last.
 */
export function msrRestoreOrder(msrs: readonly MsrValue[]): MsrValue[] {
  const rank = (index: number): number => (index === MSR_IA32_TSC ? 0 : index === MSR_IA32_TSC_DEADLINE ? 2 : 1);
  return [...msrs].sort((a, b) => rank(a.index) - rank(b.index));
}

/** A saved vCPU cannot run on this host's KVM as it was: the user's to hear, in one line. */
export class VcpuStateMismatchError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'VcpuStateMismatchError';
  }
}

/**
 * Writes `state` into a fresh vCPU that already has the snapshot's CPUID.
 * Order matters: special registers (CR4, EFER, the APIC base) before the
 * LAPIC page KVM interprets by APIC mode; XCR0 before the XSAVE area it
 * governs; the LAPIC before the TSC deadline MSR; pending events last, once
 * nothing else can overwrite them.
 */
export function restoreVcpuState(vcpu: VcpuFd, state: VcpuState, support: VcpuStateSupport): void {
  if (state.tscKhz !== 0 && support.tscKhz) {
    const here = vcpu.getTscKhz();
    if (here !== state.tscKhz) {
      if (!support.tscScaling)
        throw new VcpuStateMismatchError(
          `the snapshot's TSC runs at ${state.tscKhz} kHz, this host's at ${here} kHz, and its KVM cannot scale the TSC`,
        );
      vcpu.setTscKhz(state.tscKhz);
    }
  }
  vcpu.setRegsBytes(state.regs);
  vcpu.setSregsBytes(state.sregs);
  if (state.xcrs) {
    if (!support.xcrs) throw new VcpuStateMismatchError("the snapshot has XCR state and this host's KVM has no KVM_CAP_XCRS");
    vcpu.setXcrs(state.xcrs);
  }
  if (state.xsave) {
    if (state.xsave.length !== support.xsaveBytes)
      throw new VcpuStateMismatchError(`the snapshot's XSAVE area is ${state.xsave.length} bytes, this host's KVM uses ${support.xsaveBytes}`);
    vcpu.setXsave(state.xsave);
  } else if (state.fpu) {
    vcpu.setFpu(state.fpu);
  }
  vcpu.setDebugRegs(state.debugRegs);
  vcpu.setLapic(state.lapic);
  vcpu.setMsrs(msrRestoreOrder(state.msrs));
  vcpu.setMpState(state.mpState);
  vcpu.setVcpuEvents(state.events);
}
