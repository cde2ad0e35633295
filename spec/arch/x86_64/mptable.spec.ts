import { expect } from 'chai';
import { BootError } from '../../../src/arch/x86_64/boot-error.js';
import { APIC_START, EBDA_START, IOAPIC_PINS, IOAPIC_START, LEGACY_HOLE_START } from '../../../src/arch/x86_64/layout.js';
import { maxMpTableCpus, mpTableSize, writeMpTable } from '../../../src/arch/x86_64/mptable.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

const ascii = (memory: GuestMemory, at: number, n: number) => String.fromCharCode(...memory.read(at, n));
const sum = (memory: GuestMemory, at: number, n: number) => memory.read(at, n).reduce((a, b) => (a + b) & 0xff, 0);

/** Parses the MP table the way Linux's mpparse.c finds and walks it. */
function parseMpTable(memory: GuestMemory) {
  // Linux scans the last KiB of base memory on 16-byte boundaries.
  let mpf = -1;
  for (let at = 0x9fc00; at < 0xa0000; at += 16) {
    if (ascii(memory, at, 4) === '_MP_' && sum(memory, at, 16) === 0) {
      mpf = at;
      break;
    }
  }
  expect(mpf, 'floating pointer found with a valid checksum').to.be.at.least(0);
  expect(memory.readU8(mpf + 8), 'length in paragraphs').to.equal(1);
  expect(memory.readU8(mpf + 9), 'spec revision 1.4').to.equal(4);
  expect(memory.readU8(mpf + 11), 'feature byte 1: table present').to.equal(0);
  const table = memory.readU32(mpf + 4);
  expect(ascii(memory, table, 4)).to.equal('PCMP');
  const length = memory.readU16(table + 4);
  expect(sum(memory, table, length), 'configuration table checksum').to.equal(0);
  expect(memory.readU32(table + 36)).to.equal(APIC_START);

  const result = {
    end: table + length,
    cpus: [] as { apicId: number; flags: number; version: number }[],
    buses: [] as { id: number; type: string }[],
    ioapics: [] as { id: number; flags: number; address: number }[],
    intsrc: [] as { kind: number; srcIrq: number; dstApic: number; dstPin: number }[],
    lintsrc: [] as { kind: number; dstApic: number; dstPin: number }[],
  };
  let at = table + 44;
  for (let i = 0; i < memory.readU16(table + 34); i++) {
    const type = memory.readU8(at);
    if (type === 0) {
      result.cpus.push({ apicId: memory.readU8(at + 1), version: memory.readU8(at + 2), flags: memory.readU8(at + 3) });
      at += 20;
      continue;
    }
    if (type === 1) result.buses.push({ id: memory.readU8(at + 1), type: ascii(memory, at + 2, 6) });
    else if (type === 2) result.ioapics.push({ id: memory.readU8(at + 1), flags: memory.readU8(at + 3), address: memory.readU32(at + 4) });
    else if (type === 3) result.intsrc.push({ kind: memory.readU8(at + 1), srcIrq: memory.readU8(at + 5), dstApic: memory.readU8(at + 6), dstPin: memory.readU8(at + 7) });
    else if (type === 4) result.lintsrc.push({ kind: memory.readU8(at + 1), dstApic: memory.readU8(at + 6), dstPin: memory.readU8(at + 7) });
    else expect.fail(`unknown entry type ${type}`);
    at += 8;
  }
  expect(at, 'entries fill the table exactly').to.equal(table + length);
  return result;
}

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
      expect(mp.intsrc.every((e) => e.dstApic === cpus), 'interrupts go to the IOAPIC').to.equal(true);
    });
  }

  it('has one ISA bus, IRQs 0..23 on IOAPIC pins 0..23, ExtINT on LINT0 and NMI on LINT1', () => {
    const memory = fresh();
    writeMpTable(memory, 2);
    const mp = parseMpTable(memory);
    expect(mp.buses).to.deep.equal([{ id: 0, type: 'ISA   ' }]);
    expect(mp.intsrc).to.have.length(IOAPIC_PINS);
    mp.intsrc.forEach((e, pin) => expect(e, `pin ${pin}`).to.deep.equal({ kind: 0, srcIrq: pin, dstApic: 2, dstPin: pin }));
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
