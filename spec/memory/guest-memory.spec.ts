import { expect } from 'chai';
import { GuestMemory, GuestMemoryError } from '../../src/memory/guest-memory.js';

describe('GuestMemory', () => {
  const memory = () =>
    GuestMemory.fromSizes([
      { guestAddress: 0, size: 0x1000 },
      { guestAddress: 0x1000, size: 0x1000 },
      { guestAddress: 0x10000, size: 0x100 },
    ]);

  it('reads back what it writes, little-endian', () => {
    const m = memory();
    m.writeU32(0x10, 0xdeadbeef);
    expect(m.readU8(0x10)).to.equal(0xef);
    expect(m.readU16(0x12)).to.equal(0xdead);
    m.writeU64(0x20, 0x1_0000_0002n);
    expect(m.readU64(0x20)).to.equal(0x1_0000_0002);
  });

  it('refuses every access that leaves a region, overflows or is not an integer', () => {
    const m = memory();
    const bad: [number, number][] = [
      [0xfff, 2],
      [0x2000, 1],
      [-1, 1],
      [0x10000 + 0xff, 2],
      [Number.MAX_SAFE_INTEGER, 1],
      [0.5, 1],
      [0, -1],
      [NaN, 1],
      [0, Infinity],
    ];
    for (const [address, length] of bad) {
      expect(m.isValidRange(address, length), `${address}+${length}`).to.equal(false);
      expect(() => m.slice(address, length), `${address}+${length}`).to.throw(GuestMemoryError);
    }
    expect(() => m.readU32(0xffe)).to.throw(GuestMemoryError);
  });

  it('refuses u64 values a JS number cannot hold exactly', () => {
    const m = memory();
    m.writeU64(0, 0xffff_ffff_ffff_ffffn);
    expect(() => m.readU64(0)).to.throw(GuestMemoryError);
  });

  it('says which ranges adjacent regions cover together', () => {
    const m = memory();
    expect(m.coversRange(0x800, 0x1000)).to.equal(true);
    expect(m.coversRange(0, 0x2000)).to.equal(true);
    expect(m.coversRange(0, 0x2001)).to.equal(false);
    expect(m.coversRange(0x1800, 0x10000)).to.equal(false);
    expect(m.isValidRange(0x800, 0x1000)).to.equal(false);
  });

  it('refuses overlapping regions', () => {
    expect(() =>
      GuestMemory.fromSizes([
        { guestAddress: 0, size: 0x2000 },
        { guestAddress: 0x1000, size: 0x1000 },
      ]),
    ).to.throw(GuestMemoryError);
  });
});
