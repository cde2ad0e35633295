import { expect } from 'chai';
import { BootError } from '../../../src/arch/x86_64/boot-error.js';
import { E820_MAX_ENTRIES, E820_TABLE, ZERO_PAGE_SIZE, readBootParams, writeBootParams } from '../../../src/arch/x86_64/boot-params.js';
import { e820Map, guestRamRegions } from '../../../src/arch/x86_64/e820.js';
import { CMDLINE_START, GiB, MiB, ZERO_PAGE_START } from '../../../src/arch/x86_64/layout.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

function memory(): GuestMemory {
  return GuestMemory.fromSizes([{ guestAddress: 0, size: 0x10000 }]);
}

describe('arch/x86_64/boot-params', () => {
  it('fills the setup header fields a 64-bit entry kernel reads', () => {
    const mem = memory();
    writeBootParams(mem, { cmdlineAddress: CMDLINE_START, cmdlineLength: 42, e820: e820Map(guestRamRegions(128 * MiB)) });
    const bp = readBootParams(mem);
    expect(bp.bootFlag).to.equal(0xaa55);
    expect(bp.header).to.equal(0x53726448);
    // "HdrS" as bytes, independent of the constant under test.
    expect(new TextDecoder().decode(mem.read(ZERO_PAGE_START + 0x202, 4))).to.equal('HdrS');
    expect(mem.readU16(ZERO_PAGE_START + 0x1fe)).to.equal(0xaa55);
    expect(bp.version).to.be.at.least(0x020a);
    expect(bp.typeOfLoader).to.equal(0xff);
    expect(bp.loadflags & 1, 'LOADED_HIGH').to.equal(1);
    expect(mem.readU32(ZERO_PAGE_START + 0x228)).to.equal(CMDLINE_START);
    expect(mem.readU32(ZERO_PAGE_START + 0x238)).to.equal(42);
    expect(bp.ramdiskImage).to.equal(0);
    expect(bp.ramdiskSize).to.equal(0);
    expect(bp.sentinel).to.equal(0);
  });

  it('writes the e820 table at 0x2d0 with its count at 0x1e8', () => {
    const mem = memory();
    const e820 = e820Map(guestRamRegions(6 * GiB));
    writeBootParams(mem, { cmdlineAddress: CMDLINE_START, cmdlineLength: 0, e820 });
    expect(mem.readU8(ZERO_PAGE_START + 0x1e8)).to.equal(e820.length);
    expect(readBootParams(mem).e820).to.deep.equal(e820);
    const last = ZERO_PAGE_START + 0x2d0 + (e820.length - 1) * 20;
    expect(mem.readU64(last)).to.equal(4 * GiB);
    expect(mem.readU64(last + 8)).to.equal(3 * GiB);
    expect(mem.readU32(last + 16)).to.equal(1);
  });

  it('records the initrd, splitting addresses above 4 GiB into the ext_ fields', () => {
    const mem = memory();
    writeBootParams(mem, {
      cmdlineAddress: CMDLINE_START,
      cmdlineLength: 0,
      e820: e820Map(guestRamRegions(64 * MiB)),
      initrd: { address: 0x1_2340_0000, size: 0x10_0000 },
    });
    expect(mem.readU32(ZERO_PAGE_START + 0x218)).to.equal(0x2340_0000);
    expect(mem.readU32(ZERO_PAGE_START + 0x0c0)).to.equal(1);
    expect(mem.readU32(ZERO_PAGE_START + 0x21c)).to.equal(0x10_0000);
    expect(readBootParams(mem).ramdiskImage).to.equal(0x1_2340_0000);
  });

  it('clears whatever was in the page before', () => {
    const mem = memory();
    mem.fill(ZERO_PAGE_START, ZERO_PAGE_SIZE, 0xff);
    writeBootParams(mem, { cmdlineAddress: CMDLINE_START, cmdlineLength: 0, e820: e820Map(guestRamRegions(64 * MiB)) });
    expect(readBootParams(mem).sentinel).to.equal(0);
    expect(mem.readU8(ZERO_PAGE_START + E820_TABLE + 3 * 20), 'slot after the 3 entries').to.equal(0);
  });

  it('refuses an empty e820 map and one longer than 128 entries', () => {
    const entry = { address: 0, size: 4096, type: 1 };
    const write = (n: number) => () => writeBootParams(memory(), { cmdlineAddress: CMDLINE_START, cmdlineLength: 0, e820: Array(n).fill(entry) });
    expect(write(0)).to.throw(BootError, /1 to 128/);
    expect(write(E820_MAX_ENTRIES + 1)).to.throw(BootError, /129 entries/);
    expect(write(E820_MAX_ENTRIES)).to.not.throw();
  });
});
