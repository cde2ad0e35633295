// Numbers from the VIRTIO 1.2 specification that the transport and the
// queues share. Section numbers refer to that document.

/** "virt" in little-endian ASCII, read at offset 0 of every virtio-mmio device (4.2.2). */
export const VIRTIO_MMIO_MAGIC = 0x7472_6976;
/** virtio-mmio version 2 is the non-legacy ("modern") register layout (4.2.2). */
export const VIRTIO_MMIO_VERSION = 2;
/** Our vendor ID: the ASCII bytes "mvm" (the spec leaves vendor IDs free for MMIO). */
export const MVM_VENDOR_ID = 0x006d_766d;

/** Register offsets of the virtio-mmio version 2 register file (4.2.2, table "MMIO Device Register Layout"). */
export const Reg = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  CONFIG_GENERATION: 0x0fc,
  /** Device-specific configuration space starts here. */
  CONFIG: 0x100,
} as const;

/** Device status bits (2.1). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** InterruptStatus bits (4.2.2). */
export const Interrupt = {
  USED_BUFFER: 1,
  CONFIG_CHANGE: 2,
} as const;

/** Transport-level feature bits (6). Device features live in bits 0..23. */
export const Feature = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  /** A non-legacy device; the driver MUST accept it (6.1). */
  VERSION_1: 32,
} as const;

/** Device IDs (5). */
export const DeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
  VSOCK: 19,
} as const;

/** A feature bit as a 64-bit mask. */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}
