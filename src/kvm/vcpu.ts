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
  KVM_GET_DEBUGREGS,
  KVM_GET_FPU,
  KVM_GET_MSRS,
  KVM_GET_TSC_KHZ,
  KVM_GET_XCRS,
  KVM_GET_XSAVE,
  KVM_GET_XSAVE2,
  KVM_KVMCLOCK_CTRL,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_TSC_KHZ,
  KVM_SET_VCPU_EVENTS,
  KVM_SET_XCRS,
  KVM_SET_XSAVE,
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
import { DEBUGREGS_BYTES, FPU_BYTES, VCPU_EVENTS_BYTES, XCRS_BYTES, XSAVE_BYTES, decodeMsrs, msrReadBuffer, type MsrValue } from './state-layouts.js';
import { RunPage, type VcpuExit } from './vcpu-exit.js';

/** sizeof(struct kvm_lapic_state). */
const LAPIC_STATE_BYTES = 0x400;

/** KVM_RUN returns these when a signal or a pending event interrupted it: just run again. */
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

  // ---- the rest of the state a snapshot saves: raw structs, size-checked ------
  // KVM takes the vCPU's mutex for each of these, and KVM_RUN holds it while the
  // guest runs: they may be issued from any thread, but only while no thread is
  // inside this vCPU's KVM_RUN (they would wait for it otherwise).

  /** struct kvm_regs as KVM holds it. */
  getRegsBytes(): Uint8Array {
    return this.getFixed(KVM_GET_REGS, REGS_SIZE, 'KVM_GET_REGS');
  }

  setRegsBytes(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_REGS, REGS_SIZE, bytes, 'KVM_SET_REGS');
  }

  /** struct kvm_sregs, the pending-interrupt bitmap included. */
  getSregsRaw(): Uint8Array {
    return this.getSregsBytes();
  }

  setSregsBytes(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_SREGS, SREGS_SIZE, bytes, 'KVM_SET_SREGS');
  }

  getFpu(): Uint8Array {
    return this.getFixed(KVM_GET_FPU, FPU_BYTES, 'KVM_GET_FPU');
  }

  setFpu(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_FPU, FPU_BYTES, bytes, 'KVM_SET_FPU');
  }

  /**
   * The XSAVE area: `size` bytes, the 4 KiB struct kvm_xsave unless
   * KVM_CAP_XSAVE2 asked for more (then KVM_GET_XSAVE2 fills it).
   */
  getXsave(size: number = XSAVE_BYTES): Uint8Array {
    if (size < XSAVE_BYTES) throw new RangeError(`an XSAVE area is at least ${XSAVE_BYTES} bytes, not ${size}`);
    const bytes = new Uint8Array(size);
    if (size === XSAVE_BYTES) ffi.ioctlWithBuffer(this.fd, KVM_GET_XSAVE, bytes, 'KVM_GET_XSAVE');
    else ffi.ioctlWithBuffer(this.fd, KVM_GET_XSAVE2, bytes, 'KVM_GET_XSAVE2');
    return bytes;
  }

  /** KVM reads as many bytes as KVM_CAP_XSAVE2 says (4 KiB without it): the caller checks the size matches. */
  setXsave(bytes: Uint8Array): void {
    if (bytes.length < XSAVE_BYTES) throw new RangeError(`an XSAVE area is at least ${XSAVE_BYTES} bytes, not ${bytes.length}`);
    ffi.ioctlWithBuffer(this.fd, KVM_SET_XSAVE, bytes, 'KVM_SET_XSAVE');
  }

  getXcrs(): Uint8Array {
    return this.getFixed(KVM_GET_XCRS, XCRS_BYTES, 'KVM_GET_XCRS');
  }

  setXcrs(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_XCRS, XCRS_BYTES, bytes, 'KVM_SET_XCRS');
  }

  getDebugRegs(): Uint8Array {
    return this.getFixed(KVM_GET_DEBUGREGS, DEBUGREGS_BYTES, 'KVM_GET_DEBUGREGS');
  }

  setDebugRegs(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_DEBUGREGS, DEBUGREGS_BYTES, bytes, 'KVM_SET_DEBUGREGS');
  }

  /** struct kvm_vcpu_events whole: pending exceptions, interrupts, NMIs, SIPI vector, SMM. */
  getVcpuEventsBytes(): Uint8Array {
    return this.getFixed(KVM_GET_VCPU_EVENTS, VCPU_EVENTS_BYTES, 'KVM_GET_VCPU_EVENTS');
  }

  setVcpuEvents(bytes: Uint8Array): void {
    this.setFixed(KVM_SET_VCPU_EVENTS, VCPU_EVENTS_BYTES, bytes, 'KVM_SET_VCPU_EVENTS');
  }

  /**
   * Reads the MSRs `indices` in one KVM_GET_MSRS. KVM stops at the first one
   * it cannot read and says how many it did: returns those.
   */
  getMsrs(indices: readonly number[]): MsrValue[] {
    const bytes = msrReadBuffer(indices);
    const read = ffi.ioctlWithBuffer(this.fd, KVM_GET_MSRS, bytes, 'KVM_GET_MSRS');
    return decodeMsrs(bytes, read);
  }

  /** The guest's TSC frequency in kHz. */
  getTscKhz(): number {
    return ffi.ioctlWithValue(this.fd, KVM_GET_TSC_KHZ, 0, 'KVM_GET_TSC_KHZ');
  }

  setTscKhz(khz: number): void {
    ffi.ioctlWithValue(this.fd, KVM_SET_TSC_KHZ, khz, `KVM_SET_TSC_KHZ ${khz}`);
  }

  /**
   * Tells the guest (through its kvmclock page) that it was stopped by the
   * host; EINVAL when the guest has not enabled kvmclock, which is fine.
   */
  notifyPaused(): boolean {
    return ffi.ioctlWithValue(this.fd, KVM_KVMCLOCK_CTRL, 0, 'KVM_KVMCLOCK_CTRL', [osConstants.errno.EINVAL]) >= 0;
  }

  private getFixed(request: number, size: number, what: string): Uint8Array {
    const bytes = new Uint8Array(size);
    ffi.ioctlWithBuffer(this.fd, request, bytes, what);
    return bytes;
  }

  private setFixed(request: number, size: number, bytes: Uint8Array, what: string): void {
    if (bytes.length !== size) throw new RangeError(`${what} takes ${size} bytes, not ${bytes.length}`);
    ffi.ioctlWithBuffer(this.fd, request, bytes, what);
  }
}
