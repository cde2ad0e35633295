// Reads an MP table back out of guest memory the way Linux's mpparse.c finds
// and walks it, asserting checksums and structure along the way.
import { expect } from 'chai';
import { APIC_START } from '../../../src/arch/x86_64/layout.js';
import type { GuestMemory } from '../../../src/memory/guest-memory.js';

const ascii = (memory: GuestMemory, at: number, n: number) => String.fromCharCode(...memory.read(at, n));
const sum = (memory: GuestMemory, at: number, n: number) => memory.read(at, n).reduce((a, b) => (a + b) & 0xff, 0);

/** Parses the MP table the way Linux's mpparse.c finds and walks it. */
export function parseMpTable(memory: GuestMemory) {
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
    else if (type === 3)
      result.intsrc.push({
        kind: memory.readU8(at + 1),
        srcIrq: memory.readU8(at + 5),
        dstApic: memory.readU8(at + 6),
        dstPin: memory.readU8(at + 7),
      });
    else if (type === 4) result.lintsrc.push({ kind: memory.readU8(at + 1), dstApic: memory.readU8(at + 6), dstPin: memory.readU8(at + 7) });
    else expect.fail(`unknown entry type ${type}`);
    at += 8;
  }
  expect(at, 'entries fill the table exactly').to.equal(table + length);
  return result;
}
