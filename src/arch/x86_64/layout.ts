// Every fixed guest-physical address and legacy resource of an mvm x86_64
// microVM, in one place. Values follow the conventions Linux guests expect
// (and that Firecracker and kvmtool also use), so a stock kernel finds its
// boot data, APICs and devices without ACPI or PCI.

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

// ---- Low memory (below 1 MiB) -------------------------------------------

/** Boot GDT: null, code64, data, TSS descriptors, loaded before the first KVM_RUN. */
export const BOOT_GDT_START = 0x500;
/**
 * Boot IDT: empty; the kernel installs its own before enabling interrupts.
 * It follows the boot GDT, which is 48 bytes: two null slots, code at 0x10 and
 * data at 0x18 (the selectors boot.rst requires), then a 16-byte long-mode TSS.
 */
export const BOOT_IDT_START = 0x530;
/** PVH start_info structure (hvm_start_info) and its memory map follow it. */
export const PVH_INFO_START = 0x6000;
/** Linux boot_params ("zero page") for the 64-bit boot protocol. */
export const ZERO_PAGE_START = 0x7000;
/** Initial stack pointer for the boot vCPU; grows down, below the zero page's end. */
export const BOOT_STACK_POINTER = 0x8ff0;
/** Identity-mapping page tables for long-mode entry: PML4, PDPT, then PDs. */
export const PML4_START = 0x9000;
export const PDPTE_START = 0xa000;
export const PDE_START = 0xb000;
/** Kernel command line; the boot protocol lets it sit anywhere below 4 GiB. */
export const CMDLINE_START = 0x20000;
/** Longest command line the VMM writes (Linux x86 COMMAND_LINE_SIZE is 2048). */
export const CMDLINE_MAX_SIZE = 2048;
/** Start of the EBDA; the MP floating pointer and table are placed here. */
export const EBDA_START = 0x9fc00;
/** Legacy VGA/BIOS hole: not RAM in the e820 map. */
export const LEGACY_HOLE_START = 0xa0000;
export const LEGACY_HOLE_END = 0x100000;

// ---- Kernel and initrd ---------------------------------------------------

/** The kernel is loaded at or above 1 MiB (its ELF paddr, normally 16 MiB). */
export const HIMEM_START = 0x100000;

// ---- The 32-bit MMIO gap below 4 GiB ---------------------------------------

/** Guest RAM above this address is relocated above 4 GiB. */
export const MMIO_GAP_START = 3 * GiB;
export const MMIO_GAP_END = 4 * GiB;
export const MMIO_GAP_SIZE = MMIO_GAP_END - MMIO_GAP_START;

/**
 * mvm's guest-signal device (4 KiB of MMIO). The guest's init reaches it with
 * busybox `devmem`, so no custom guest binary is needed:
 *   offset 0, 8-bit write of 123  -> userspace has started (boot complete);
 *   offset 4, 32-bit write of N   -> power off; the VMM exits with status N;
 *   offset 8, 32-bit read         -> 1 once the host asked for a graceful stop
 *                                    (mvm stop, POST /stop), else 0: the init
 *                                    polls it and powers off the normal way.
 * 123 is the value Firecracker's boot timer uses for the same event.
 */
export const GUEST_SIGNAL_BASE = 0xc000_0000;
export const GUEST_SIGNAL_SIZE = 0x1000;
export const GUEST_SIGNAL_BOOT_OFFSET = 0;
export const GUEST_SIGNAL_BOOT_MAGIC = 123;
export const GUEST_SIGNAL_EXIT_OFFSET = 4;
export const GUEST_SIGNAL_STOP_OFFSET = 8;

/** virtio-mmio devices: one 4 KiB slot each, the n-th at BASE + n * SIZE. */
export const VIRTIO_MMIO_BASE = 0xd000_0000;
export const VIRTIO_MMIO_SLOT_SIZE = 0x1000;
export const VIRTIO_MMIO_MAX_SLOTS = 32;

/** I/O APIC and local APIC, where the MP table announces them. */
export const IOAPIC_START = 0xfec0_0000;
export const APIC_START = 0xfee0_0000;
/** KVM needs three pages for the VMX TSS and one for the identity map (Intel only; harmless elsewhere). */
export const KVM_TSS_ADDRESS = 0xfffb_d000;
export const KVM_IDENTITY_MAP_ADDRESS = 0xfffb_c000;

// ---- Legacy I/O ports and interrupt lines -----------------------------------

/** COM1, a 16550 UART: the console. */
export const SERIAL_COM1_PORT = 0x3f8;
export const SERIAL_PORT_COUNT = 8;
export const SERIAL_COM1_GSI = 4;
/** i8042 keyboard controller; a write of 0xfe to 0x64 is the reset `reboot=k` uses. */
export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const I8042_GSI = 1;
/** First GSI handed to virtio-mmio devices; the n-th device gets FIRST + n. */
export const VIRTIO_FIRST_GSI = 5;
/** The IOAPIC KVM emulates has 24 pins. */
export const IOAPIC_PINS = 24;

export { KiB, MiB, GiB };
