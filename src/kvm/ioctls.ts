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
// VM-level state a snapshot saves and restores (sizes from src/kvm/state-layouts.ts).
export const KVM_GET_IRQCHIP = iowr(0x62, 520);
/** Yes, _IOR: <linux/kvm.h> declares it so, and the number must match. */
export const KVM_SET_IRQCHIP = ior(0x63, 520);
export const KVM_SET_CLOCK = iow(0x7b, 48);
export const KVM_GET_CLOCK = ior(0x7c, 48);
export const KVM_GET_PIT2 = ior(0x9f, 112);
export const KVM_SET_PIT2 = iow(0xa0, 112);

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
// vCPU state a snapshot saves and restores.
export const KVM_GET_MSRS = iowr(0x88, 8);
export const KVM_GET_FPU = ior(0x8c, 416);
export const KVM_SET_FPU = iow(0x8d, 416);
export const KVM_SET_VCPU_EVENTS = iow(0xa0, 64);
export const KVM_GET_DEBUGREGS = ior(0xa1, 128);
export const KVM_SET_DEBUGREGS = iow(0xa2, 128);
export const KVM_SET_TSC_KHZ = io(0xa2);
export const KVM_GET_TSC_KHZ = io(0xa3);
export const KVM_GET_XSAVE = ior(0xa4, 4096);
export const KVM_SET_XSAVE = iow(0xa5, 4096);
export const KVM_GET_XCRS = ior(0xa6, 392);
export const KVM_SET_XCRS = iow(0xa7, 392);
/** Tells the guest's kvmclock it was paused, so its soft-lockup watchdog does not fire on resume. */
export const KVM_KVMCLOCK_CTRL = io(0xad);
/** KVM_GET_XSAVE for state larger than 4 KiB (AMX); its number still encodes the 4 KiB struct. */
export const KVM_GET_XSAVE2 = ior(0xcf, 4096);

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
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  DEBUGREGS: 50,
  XSAVE: 55,
  XCRS: 56,
  TSC_CONTROL: 60,
  GET_TSC_KHZ: 61,
  KVMCLOCK_CTRL: 76,
  /** Answers with the size of the XSAVE buffer KVM_GET_XSAVE2 needs (≥ 4096). */
  XSAVE2: 208,
} as const;

/** kvm_mp_state values. */
export const MpState = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** kvm_irqchip.chip_id values. */
export const IrqchipId = {
  PIC_MASTER: 0,
  PIC_SLAVE: 1,
  IOAPIC: 2,
} as const;

/** kvm_pit_config.flags: no speaker port emulation beyond a dummy. */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** kvm_ioeventfd.flags */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

/** kvm_irqfd.flags */
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
