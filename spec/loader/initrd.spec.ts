import { expect } from 'chai';
import { BootError } from '../../src/arch/x86_64/boot-error.js';
import { GiB, HIMEM_START, MMIO_GAP_START, MiB } from '../../src/arch/x86_64/layout.js';
import { guestRamRegions } from '../../src/arch/x86_64/e820.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { DEFAULT_INITRD_ADDR_MAX, loadInitrd, placeInitrd } from '../../src/loader/initrd.js';

const kernel = { kernelStart: 16 * MiB, kernelEnd: 28 * MiB + 0x123 };

describe('loader/initrd', () => {
  it('puts the initrd page-aligned at the top of RAM', () => {
    const placed = placeInitrd(1 * MiB + 5, { ram: guestRamRegions(256 * MiB), ...kernel });
    expect(placed.address % 4096).to.equal(0);
    expect(placed.address + placed.size).to.be.at.most(256 * MiB);
    expect(256 * MiB - (placed.address + placed.size)).to.be.below(4096);
  });

  it('stays below the MMIO gap when RAM extends above 4 GiB', () => {
    const placed = placeInitrd(8 * MiB, { ram: guestRamRegions(6 * GiB), ...kernel, initrdAddrMax: 0xffffffff });
    expect(placed.address + placed.size).to.be.at.most(MMIO_GAP_START);
    expect(placed.address).to.equal(MMIO_GAP_START - 8 * MiB);
  });

  it('ends at or below initrd_addr_max (0x7fffffff by default)', () => {
    const byDefault = placeInitrd(4 * MiB, { ram: guestRamRegions(3 * GiB), ...kernel });
    expect(byDefault.address + byDefault.size - 1).to.be.at.most(DEFAULT_INITRD_ADDR_MAX);
    expect(byDefault.address).to.equal(2 * GiB - 4 * MiB);
    const limited = placeInitrd(4 * MiB, { ram: guestRamRegions(3 * GiB), ...kernel, initrdAddrMax: 0x37ffffff });
    expect(limited.address).to.equal(0x3800_0000 - 4 * MiB);
  });

  it('never overlaps the kernel; falls back below it when only that window fits', () => {
    const ram = guestRamRegions(32 * MiB);
    const above = placeInitrd(3 * MiB, { ram, ...kernel });
    expect(above.address).to.be.at.least(kernel.kernelEnd);
    const below = placeInitrd(10 * MiB, { ram, ...kernel });
    expect(below.address + below.size).to.be.at.most(kernel.kernelStart);
    expect(below.address).to.be.at.least(HIMEM_START);
  });

  it('refuses an initrd that fits nowhere, and an empty one', () => {
    expect(() => placeInitrd(20 * MiB, { ram: guestRamRegions(32 * MiB), ...kernel })).to.throw(BootError, /does not fit .* more memory/);
    expect(() => placeInitrd(0, { ram: guestRamRegions(32 * MiB), ...kernel })).to.throw(BootError, /empty/);
  });

  it('copies the initrd bytes to the chosen address', () => {
    const memory = GuestMemory.fromSizes([{ guestAddress: 0, size: 32 * MiB }]);
    const initrd = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
    const placed = loadInitrd(memory, initrd, { ram: guestRamRegions(32 * MiB), ...kernel });
    expect(memory.read(placed.address, initrd.length)).to.deep.equal(initrd);
  });
});
