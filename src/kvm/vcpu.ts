// One virtual CPU: its registers, CPUID, MSRs, MP state and the KVM_RUN loop
// primitive. A VcpuFd can be rebuilt in a worker thread from its fd number
// (fds are process-wide), which maps its own view of the kvm_run page.
import { constants as osConstants } from 'node:os';
import * as ffi from '../sys/libc.js';
import {
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_REGS,
  KVM_GET_VCPU_EVENTS,
  KVM_SET_LAPIC,
  KVM_GET_SREGS,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
} from './ioctls.js';
import {
  decodeRegs,
  decodeSregs,
  decodeVcpuEvents,
  encodeCpuid,
  encodeMpState,
  encodeMsrs,
  encodeRegs,
  encodeSregs,
  REGS_SIZE,
  SREGS_SIZE,
  VCPU_EVENTS_SIZE,
  type CpuidEntry,
  type KvmRegs,
  type KvmRegsInput,
  type KvmSregs,
  type MsrEntry,
  type VcpuEvents,
} from './structs.js';
import { RunPage, type VcpuExit } from './vcpu-exit.js';

/** KVM_RUN returns these when a signal or a pending event interrupted it: just run again. */
/** sizeof(struct kvm_lapic_state). */
const LAPIC_STATE_BYTES = 0x400;

const RETRYABLE_RUN_ERRNOS = [osConstants.errno.EINTR, osConstants.errno.EAGAIN];

export class VcpuFd {
  private constructor(
    readonly fd: number,
    readonly id: number,
    readonly run: RunPage,
  ) {}

  static fromFd(fd: number, id: number, runMmapSize: number): VcpuFd {
    const mapping = ffi.mmap(runMmapSize, ffi.PROT_READ | ffi.PROT_WRITE, ffi.MAP_SHARED, fd);
    return new VcpuFd(fd, id, new RunPage(mapping.buffer));
  }

  /** Runs the vCPU until the next exit to userspace and decodes it. */
  runOnce(): VcpuExit {
    const result = ffi.ioctlWithValue(this.fd, KVM_RUN, 0, `KVM_RUN (vCPU ${this.id})`, RETRYABLE_RUN_ERRNOS);
    if (result < 0) return { kind: 'intr' };
    return this.run.decode();
  }

  getRegs(): KvmRegs {
    const bytes = new Uint8Array(REGS_SIZE);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_REGS, bytes, 'KVM_GET_REGS');
    return decodeRegs(bytes);
  }

  setRegs(regs: KvmRegsInput): void {
    ffi.ioctlWithBuffer(this.fd, KVM_SET_REGS, encodeRegs(regs), 'KVM_SET_REGS');
  }

  private getSregsBytes(): Uint8Array {
    const bytes = new Uint8Array(SREGS_SIZE);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_SREGS, bytes, 'KVM_GET_SREGS');
    return bytes;
  }

  getSregs(): KvmSregs {
    return decodeSregs(this.getSregsBytes());
  }

  /** Applies `change` to the current special registers and writes them back. */
  updateSregs(change: (sregs: KvmSregs) => KvmSregs): void {
    const current = this.getSregsBytes();
    const next = change(decodeSregs(current));
    ffi.ioctlWithBuffer(this.fd, KVM_SET_SREGS, encodeSregs(next, current), 'KVM_SET_SREGS');
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    ffi.ioctlWithBuffer(this.fd, KVM_SET_CPUID2, encodeCpuid(entries), 'KVM_SET_CPUID2');
  }

  /** Sets every MSR given; KVM returns how many it accepted. */
  setMsrs(entries: readonly MsrEntry[]): void {
    const accepted = ffi.ioctlWithBuffer(this.fd, KVM_SET_MSRS, encodeMsrs(entries), 'KVM_SET_MSRS');
    if (accepted !== entries.length) {
      const rejected = entries[accepted];
      throw new Error(`KVM_SET_MSRS accepted ${accepted} of ${entries.length} MSRs; MSR 0x${rejected?.index.toString(16)} was refused`);
    }
  }

  /** struct kvm_lapic_state: the local APIC's 1 KiB register page. */
  getLapic(): Uint8Array {
    const bytes = new Uint8Array(LAPIC_STATE_BYTES);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_LAPIC, bytes, 'KVM_GET_LAPIC');
    return bytes;
  }

  setLapic(state: Uint8Array): void {
    if (state.length !== LAPIC_STATE_BYTES) throw new RangeError(`kvm_lapic_state is ${LAPIC_STATE_BYTES} bytes`);
    ffi.ioctlWithBuffer(this.fd, KVM_SET_LAPIC, state, 'KVM_SET_LAPIC');
  }

  getMpState(): number {
    const bytes = new Uint8Array(4);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_MP_STATE, bytes, 'KVM_GET_MP_STATE');
    return new DataView(bytes.buffer).getUint32(0, true);
  }

  /** Pending exceptions, interrupts and NMIs (only the NMI part is decoded). */
  getVcpuEvents(): VcpuEvents {
    const bytes = new Uint8Array(VCPU_EVENTS_SIZE);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_VCPU_EVENTS, bytes, 'KVM_GET_VCPU_EVENTS');
    return decodeVcpuEvents(bytes);
  }

  setMpState(state: number): void {
    ffi.ioctlWithBuffer(this.fd, KVM_SET_MP_STATE, encodeMpState(state), 'KVM_SET_MP_STATE');
  }
}
