// The virtio-mmio slots of a machine: slot i is a 4 KiB register window at
// VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SLOT_SIZE raising GSI VIRTIO_FIRST_GSI + i.
// Computed here once, for both the buses (where the transports sit) and the
// kernel command line (where the guest learns of them).
import { IOAPIC_PINS, VIRTIO_FIRST_GSI, VIRTIO_MMIO_BASE, VIRTIO_MMIO_MAX_SLOTS, VIRTIO_MMIO_SLOT_SIZE } from '../arch/x86_64/layout.js';
import { UserError } from '../errors.js';

export interface VirtioSlot {
  /** Guest-physical address of the slot's register window. */
  readonly base: number;
  readonly size: number;
  /** The interrupt line the slot's device raises. */
  readonly gsi: number;
}

/** As many slots as the MMIO window holds and the IOAPIC has pins above the first virtio GSI. */
export const VIRTIO_SLOT_COUNT = Math.min(VIRTIO_MMIO_MAX_SLOTS, IOAPIC_PINS - VIRTIO_FIRST_GSI);

/** The first `count` slots, in order; a UserError when the machine has fewer. */
export function allocateVirtioSlots(count: number): VirtioSlot[] {
  if (count > VIRTIO_SLOT_COUNT) throw new UserError(`${count} virtio devices requested but this machine has ${VIRTIO_SLOT_COUNT} slots`);
  return Array.from({ length: count }, (_, i) => ({
    base: VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SLOT_SIZE,
    size: VIRTIO_MMIO_SLOT_SIZE,
    gsi: VIRTIO_FIRST_GSI + i,
  }));
}
