import { expect } from 'chai';
import { VIRTIO_FIRST_GSI, VIRTIO_MMIO_BASE, VIRTIO_MMIO_SLOT_SIZE } from '../../src/arch/x86_64/layout.js';
import { UserError } from '../../src/errors.js';
import { VIRTIO_SLOT_COUNT, allocateVirtioSlots } from '../../src/vmm/virtio-slots.js';

describe('virtio-mmio slots', () => {
  it('gives slot i its own register window and GSI, in order', () => {
    expect(allocateVirtioSlots(2)).to.deep.equal([
      { base: VIRTIO_MMIO_BASE, size: VIRTIO_MMIO_SLOT_SIZE, gsi: VIRTIO_FIRST_GSI },
      { base: VIRTIO_MMIO_BASE + VIRTIO_MMIO_SLOT_SIZE, size: VIRTIO_MMIO_SLOT_SIZE, gsi: VIRTIO_FIRST_GSI + 1 },
    ]);
    expect(allocateVirtioSlots(0)).to.deep.equal([]);
  });

  it('refuses more devices than the machine has slots, in one line', () => {
    expect(allocateVirtioSlots(VIRTIO_SLOT_COUNT)).to.have.length(VIRTIO_SLOT_COUNT);
    expect(() => allocateVirtioSlots(VIRTIO_SLOT_COUNT + 1)).to.throw(
      UserError,
      `${VIRTIO_SLOT_COUNT + 1} virtio devices requested but this machine has ${VIRTIO_SLOT_COUNT} slots`,
    );
  });
});
