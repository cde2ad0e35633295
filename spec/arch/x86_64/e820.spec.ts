import { expect } from 'chai';
import { BootError } from '../../../src/arch/x86_64/boot-error.js';
import { E820_RAM, E820_RESERVED, e820Map, guestRamRegions, lowRamEnd } from '../../../src/arch/x86_64/e820.js';
import { EBDA_START, GiB, HIMEM_START, MMIO_GAP_END, MMIO_GAP_START, MiB } from '../../../src/arch/x86_64/layout.js';

describe('arch/x86_64/e820', () => {
  it('maps small RAM as one region from 0', () => {
    expect(guestRamRegions(256 * MiB)).to.deep.equal([{ guestAddress: 0, size: 256 * MiB }]);
    expect(lowRamEnd(guestRamRegions(256 * MiB))).to.equal(256 * MiB);
  });

  it('splits RAM larger than the MMIO gap start into a low and a 4 GiB region', () => {
    expect(guestRamRegions(MMIO_GAP_START)).to.deep.equal([{ guestAddress: 0, size: MMIO_GAP_START }]);
    expect(guestRamRegions(5 * GiB)).to.deep.equal([
      { guestAddress: 0, size: MMIO_GAP_START },
      { guestAddress: MMIO_GAP_END, size: 2 * GiB },
    ]);
  });

  it('describes low RAM, the reserved EBDA/legacy hole and extended RAM', () => {
    expect(e820Map(guestRamRegions(256 * MiB))).to.deep.equal([
      { address: 0, size: EBDA_START, type: E820_RAM },
      { address: EBDA_START, size: HIMEM_START - EBDA_START, type: E820_RESERVED },
      { address: HIMEM_START, size: 256 * MiB - HIMEM_START, type: E820_RAM },
    ]);
  });

  it('adds the RAM above 4 GiB and totals exactly the requested RAM', () => {
    const map = e820Map(guestRamRegions(5 * GiB));
    expect(map.at(-1)).to.deep.equal({ address: MMIO_GAP_END, size: 2 * GiB, type: E820_RAM });
    const ram = map.filter((e) => e.type === E820_RAM).reduce((sum, e) => sum + e.size, 0);
    const reserved = map.filter((e) => e.type === E820_RESERVED).reduce((sum, e) => sum + e.size, 0);
    expect(ram + reserved).to.equal(5 * GiB);
    for (let i = 1; i < map.length; i++) {
      expect(map[i]!.address, 'sorted, no overlap').to.be.at.least(map[i - 1]!.address + map[i - 1]!.size);
    }
  });

  it('refuses sizes that are not whole pages, too small, too large or not numbers', () => {
    for (const bad of [256 * MiB + 1, 1 * MiB, 2 ** 50, Number.NaN, -4096, 0]) {
      expect(() => guestRamRegions(bad), String(bad)).to.throw(BootError);
    }
  });
});
