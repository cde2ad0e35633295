// KVM ioctl request numbers, computed the way <linux/ioctl.h> does, with the
// argument struct sizes from <linux/kvm.h> for x86_64.

const KVMIO = 0xae;

// <asm-generic/ioctl.h>: dir(2 bits) | size(14) | type(8) | nr(8).
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;

function ioc(dir: number, nr: number, size: number): number {
  // >>> 0 keeps the result an unsigned 32-bit number (dir can set bit 31).
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
const io = (nr: number) => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number) => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number) => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, nr, size);

// /dev/kvm
export const KVM_GET_API_VERSION = io(0x00);
export const KVM_CREATE_VM = io(0x01);
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4);
export const KVM_CHECK_EXTENSION = io(0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8);

// VM fd
export const KVM_CREATE_VCPU = io(0x41);
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, 32);
export const KVM_SET_TSS_ADDR = io(0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
export const KVM_CREATE_IRQCHIP = io(0x60);
export const KVM_IRQ_LINE = iow(0x61, 8);
export const KVM_IRQFD = iow(0x76, 32);
export const KVM_CREATE_PIT2 = iow(0x77, 64);
export const KVM_IOEVENTFD = iow(0x79, 64);
export const KVM_SIGNAL_MSI = iow(0xa5, 32);

// vCPU fd
export const KVM_RUN = io(0x80);
export const KVM_GET_REGS = ior(0x81, 144);
export const KVM_SET_REGS = iow(0x82, 144);
export const KVM_GET_SREGS = ior(0x83, 312);
export const KVM_SET_SREGS = iow(0x84, 312);
export const KVM_SET_MSRS = iow(0x89, 8);
export const KVM_SET_CPUID2 = iow(0x90, 8);
export const KVM_GET_LAPIC = ior(0x8e, 0x400);
export const KVM_SET_LAPIC = iow(0x8f, 0x400);
export const KVM_GET_MP_STATE = ior(0x98, 4);
export const KVM_SET_MP_STATE = iow(0x99, 4);
export const KVM_GET_VCPU_EVENTS = ior(0x9f, 64);

/** The only API version KVM has ever shipped; anything else is not KVM as we know it. */
export const KVM_API_VERSION = 12;

/** Capability numbers for KVM_CHECK_EXTENSION. */
export const Capability = {
  IRQCHIP: 0,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  NR_VCPUS: 9,
  PIT2: 33,
  IRQFD: 32,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  MAX_VCPUS: 66,
  IMMEDIATE_EXIT: 136,
  TSC_DEADLINE_TIMER: 72,
} as const;

/** kvm_mp_state values. */
export const MpState = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** kvm_pit_config.flags: no speaker port emulation beyond a dummy. */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** kvm_ioeventfd.flags */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

/** kvm_irqfd.flags */
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
