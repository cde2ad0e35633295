import { expect } from 'chai';
import { BootError } from '../../../src/arch/x86_64/boot-error.js';
import { EBDA_START, IOAPIC_PINS, IOAPIC_START, LEGACY_HOLE_START } from '../../../src/arch/x86_64/layout.js';
import { maxMpTableCpus, mpTableSize, writeMpTable } from '../../../src/arch/x86_64/mptable.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';
import { parseMpTable } from './mp-parse.js';

describe('arch/x86_64/mptable', () => {
  const fresh = () => GuestMemory.fromSizes([{ guestAddress: 0, size: 0x100000 }]);

  for (const cpus of [1, 2, 7]) {
    it(`describes ${cpus} CPU(s) with APIC ids 0..${cpus - 1}, the BSP flag on 0`, () => {
      const memory = fresh();
      writeMpTable(memory, cpus);
      const mp = parseMpTable(memory);
      expect(mp.cpus.map((c) => c.apicId)).to.deep.equal([...Array(cpus).keys()]);
      expect(mp.cpus.map((c) => c.flags)).to.deep.equal([3, ...Array(cpus - 1).fill(1)]);
      expect(mp.ioapics).to.deep.equal([{ id: cpus, flags: 1, address: IOAPIC_START }]);
      expect(
        mp.intsrc.every((e) => e.dstApic === cpus),
        'interrupts go to the IOAPIC',
      ).to.equal(true);
    });
  }

  it('has one ISA bus, IRQs 0..23 on IOAPIC pins 0..23, ExtINT on LINT0 and NMI on LINT1', () => {
    const memory = fresh();
    writeMpTable(memory, 2);
    const mp = parseMpTable(memory);
    expect(mp.buses).to.deep.equal([{ id: 0, type: 'ISA   ' }]);
    expect(mp.intsrc).to.have.length(IOAPIC_PINS);
    mp.intsrc.forEach((e, pin) => {
      expect(e, `pin ${pin}`).to.deep.equal({ kind: 0, srcIrq: pin, dstApic: 2, dstPin: pin });
    });
    expect(mp.lintsrc).to.deep.equal([
      { kind: 3, dstApic: 0xff, dstPin: 0 },
      { kind: 1, dstApic: 0xff, dstPin: 1 },
    ]);
  });

  it('stays in the EBDA below the legacy hole for the most CPUs it allows', () => {
    const max = maxMpTableCpus();
    expect(max).to.be.within(2, 254);
    expect(EBDA_START + mpTableSize(max)).to.be.at.most(LEGACY_HOLE_START);
    expect(EBDA_START + mpTableSize(max + 1)).to.be.above(LEGACY_HOLE_START);
    const memory = fresh();
    memory.fill(LEGACY_HOLE_START, 16, 0x5a);
    writeMpTable(memory, max);
    const mp = parseMpTable(memory);
    expect(mp.cpus).to.have.length(max);
    expect(mp.end).to.be.at.most(LEGACY_HOLE_START);
    expect(memory.readU8(LEGACY_HOLE_START), 'nothing written into the hole').to.equal(0x5a);
  });

  it('refuses zero, fractional and too many CPUs', () => {
    for (const bad of [0, -1, 1.5, maxMpTableCpus() + 1, 255, Number.NaN]) {
      expect(() => writeMpTable(fresh(), bad), String(bad)).to.throw(BootError, /vCPUs cannot be described/);
    }
  });
});
