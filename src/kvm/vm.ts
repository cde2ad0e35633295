// A KVM virtual machine: memory slots, the in-kernel interrupt controllers
// and PIT, interrupt lines, irqfd/ioeventfd, and creating vCPUs.
import * as ffi from '../sys/libc.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_GET_CLOCK,
  KVM_GET_IRQCHIP,
  KVM_GET_PIT2,
  KVM_SET_CLOCK,
  KVM_SET_IRQCHIP,
  KVM_SET_PIT2,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_CREATE_VCPU,
  KVM_IOEVENTFD,
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IRQFD,
  KVM_IRQ_LINE,
  KVM_PIT_SPEAKER_DUMMY,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
} from './ioctls.js';
import { CLOCK_DATA_BYTES, IRQCHIP_BYTES, IRQCHIP_STATE_BYTES, IRQCHIP_STATE_OFFSET, PIT_STATE_BYTES, encodeClock } from './state-layouts.js';
import { encodeIoeventfd, encodeIrqfd, encodeIrqLevel, encodeMemoryRegion, encodePitConfig } from './structs.js';
import { VcpuFd } from './vcpu.js';

/** KVM_MEM_READONLY: guest writes to the slot exit as MMIO. */
export const KVM_MEM_READONLY = 1 << 1;

export class VmFd {
  private nextSlot = 0;

  constructor(
    readonly fd: number,
    private readonly runMmapSize: number,
  ) {}

  /**
   * Maps `size` bytes of fresh anonymous host memory at `guestAddress`.
   * MAP_NORESERVE: the host pays only for pages the guest touches.
   */
  addAnonymousMemory(guestAddress: number, size: number, flags = 0): ffi.Mapping {
    const mapping = ffi.mmap(size, ffi.PROT_READ | ffi.PROT_WRITE, ffi.MAP_PRIVATE | ffi.MAP_ANONYMOUS | ffi.MAP_NORESERVE, -1);
    this.setMemoryRegion(this.nextSlot++, guestAddress, size, mapping.address, flags);
    return mapping;
  }

  /**
   * Maps `size` bytes of the memory file `fd` from `offset` MAP_SHARED at
   * `guestAddress`: another process given the same descriptor (a vhost-user
   * back-end) sees the guest's RAM as it is.
   */
  addSharedFileMemory(guestAddress: number, size: number, fd: number, offset: number): ffi.Mapping {
    const mapping = ffi.mmap(size, ffi.PROT_READ | ffi.PROT_WRITE, ffi.MAP_SHARED | ffi.MAP_NORESERVE, fd, offset);
    this.setMemoryRegion(this.nextSlot++, guestAddress, size, mapping.address);
    return mapping;
  }

  setMemoryRegion(slot: number, guestAddress: number, size: number, hostAddress: bigint, flags = 0): void {
    const region = encodeMemoryRegion(slot, flags, guestAddress, size, hostAddress);
    ffi.ioctlWithBuffer(
      this.fd,
      KVM_SET_USER_MEMORY_REGION,
      region,
      `KVM_SET_USER_MEMORY_REGION (slot ${slot} at 0x${guestAddress.toString(16)}, ${size} bytes)`,
    );
  }

  /** Intel VMX needs three pages for a real-mode TSS; AMD ignores it. */
  setTssAddress(address: number): void {
    ffi.ioctlWithValue(this.fd, KVM_SET_TSS_ADDR, address, 'KVM_SET_TSS_ADDR');
  }

  setIdentityMapAddress(address: number): void {
    const arg = new Uint8Array(8);
    new DataView(arg.buffer).setBigUint64(0, BigInt(address), true);
    ffi.ioctlWithBuffer(this.fd, KVM_SET_IDENTITY_MAP_ADDR, arg, 'KVM_SET_IDENTITY_MAP_ADDR');
  }

  /** In-kernel PIC pair, IOAPIC and per-vCPU LAPICs. Must precede vCPU creation. */
  createIrqchip(): void {
    ffi.ioctlWithValue(this.fd, KVM_CREATE_IRQCHIP, 0, 'KVM_CREATE_IRQCHIP');
  }

  /** In-kernel i8254 PIT; the speaker port is a dummy so it never exits. */
  createPit(): void {
    ffi.ioctlWithBuffer(this.fd, KVM_CREATE_PIT2, encodePitConfig(KVM_PIT_SPEAKER_DUMMY), 'KVM_CREATE_PIT2');
  }

  /** Drives a GSI of the in-kernel irqchip high or low. */
  setIrqLine(gsi: number, high: boolean): void {
    ffi.ioctlWithBuffer(this.fd, KVM_IRQ_LINE, encodeIrqLevel(gsi, high ? 1 : 0), `KVM_IRQ_LINE ${gsi}`);
  }

  /** Pulses an edge-triggered line: high then low. */
  pulseIrq(gsi: number): void {
    this.setIrqLine(gsi, true);
    this.setIrqLine(gsi, false);
  }

  /** A write to `eventFd` injects `gsi` without a userspace round trip. */
  registerIrqfd(eventFd: number, gsi: number): void {
    ffi.ioctlWithBuffer(this.fd, KVM_IRQFD, encodeIrqfd(eventFd, gsi, 0), `KVM_IRQFD gsi ${gsi}`);
  }

  /** A guest write to the address signals `eventFd` instead of exiting to userspace. */
  registerIoeventfd(address: number, length: number, eventFd: number, options: { pio?: boolean; datamatch?: number } = {}): void {
    let flags = options.pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
    if (options.datamatch !== undefined) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    const arg = encodeIoeventfd(address, length, eventFd, flags, options.datamatch ?? 0);
    ffi.ioctlWithBuffer(this.fd, KVM_IOEVENTFD, arg, `KVM_IOEVENTFD at 0x${address.toString(16)}`);
  }

  createVcpu(id: number): VcpuFd {
    const fd = ffi.ioctlWithValue(this.fd, KVM_CREATE_VCPU, id, `KVM_CREATE_VCPU ${id}`);
    return VcpuFd.fromFd(fd, id, this.runMmapSize);
  }

  /** KVM_CHECK_EXTENSION asked of this VM (what it can do may differ from /dev/kvm's answer). */
  checkExtension(capability: number): number {
    return ffi.ioctlWithValue(this.fd, KVM_CHECK_EXTENSION, capability, 'KVM_CHECK_EXTENSION');
  }

  // ---- VM-level state a snapshot saves: raw structs, size-checked -------------

  /** One in-kernel interrupt controller's state (IrqchipId): the 512-byte union of struct kvm_irqchip. */
  getIrqchip(chipId: number): Uint8Array {
    const bytes = new Uint8Array(IRQCHIP_BYTES);
    new DataView(bytes.buffer).setUint32(0, chipId, true);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_IRQCHIP, bytes, `KVM_GET_IRQCHIP ${chipId}`);
    return bytes.slice(IRQCHIP_STATE_OFFSET);
  }

  setIrqchip(chipId: number, state: Uint8Array): void {
    if (state.length !== IRQCHIP_STATE_BYTES) throw new RangeError(`an irqchip's state is ${IRQCHIP_STATE_BYTES} bytes, not ${state.length}`);
    const bytes = new Uint8Array(IRQCHIP_BYTES);
    new DataView(bytes.buffer).setUint32(0, chipId, true);
    bytes.set(state, IRQCHIP_STATE_OFFSET);
    ffi.ioctlWithBuffer(this.fd, KVM_SET_IRQCHIP, bytes, `KVM_SET_IRQCHIP ${chipId}`);
  }

  /** struct kvm_pit_state2: the three PIT channels and the flags. */
  getPit(): Uint8Array {
    const bytes = new Uint8Array(PIT_STATE_BYTES);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_PIT2, bytes, 'KVM_GET_PIT2');
    return bytes;
  }

  setPit(state: Uint8Array): void {
    if (state.length !== PIT_STATE_BYTES) throw new RangeError(`kvm_pit_state2 is ${PIT_STATE_BYTES} bytes, not ${state.length}`);
    ffi.ioctlWithBuffer(this.fd, KVM_SET_PIT2, state, 'KVM_SET_PIT2');
  }

  /** struct kvm_clock_data: the guest's kvmclock (nanoseconds at 0) and how KVM read it. */
  getClock(): Uint8Array {
    const bytes = new Uint8Array(CLOCK_DATA_BYTES);
    ffi.ioctlWithBuffer(this.fd, KVM_GET_CLOCK, bytes, 'KVM_GET_CLOCK');
    return bytes;
  }

  /** Sets the guest's kvmclock to `nanoseconds` now. */
  setClock(nanoseconds: bigint): void {
    ffi.ioctlWithBuffer(this.fd, KVM_SET_CLOCK, encodeClock(nanoseconds), 'KVM_SET_CLOCK');
  }
}
