import { expect } from 'chai';
import { GiB, MiB, PML4_START } from '../../../src/arch/x86_64/layout.js';
import { IDENTITY_MAPPED_SIZE, writeIdentityPageTables } from '../../../src/arch/x86_64/page-tables.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

const PRESENT = 1n;
const WRITABLE = 2n;
const LARGE = 0x80n;
const ADDRESS_MASK = 0x000f_ffff_ffff_f000n;

/** A 4-level walk as the MMU does it, stopping at a 2 MiB page; undefined when not mapped. */
function translate(memory: GuestMemory, cr3: number, linear: bigint): bigint | undefined {
  let table = BigInt(cr3);
  for (const shift of [39n, 30n, 21n]) {
    const index = (linear >> shift) & 0x1ffn;
    const entry = BigInt(memory.readU64(Number(table + index * 8n)));
    if ((entry & PRESENT) === 0n) return undefined;
    expect(entry & WRITABLE, 'writable').to.equal(WRITABLE);
    if (shift === 21n) {
      expect(entry & LARGE, 'PD entries map 2 MiB pages').to.equal(LARGE);
      return (entry & ADDRESS_MASK & ~0x1f_ffffn) | (linear & 0x1f_ffffn);
    }
    table = entry & ADDRESS_MASK;
  }
  return undefined;
}

describe('arch/x86_64/page-tables', () => {
  const memory = GuestMemory.fromSizes([{ guestAddress: 0, size: 0x10000 }]);
  memory.fill(0x9000, 0x3000, 0xff); // stale bytes must not survive
  const cr3 = writeIdentityPageTables(memory);

  it('returns the PML4 address for CR3', () => {
    expect(cr3).to.equal(PML4_START);
  });

  it('identity-maps the first 1 GiB, including the kernel at 16 MiB and the zero page', () => {
    expect(IDENTITY_MAPPED_SIZE).to.equal(GiB);
    for (const address of [0, 0x7000, 0x20000, 16 * MiB, 16 * MiB + 0x1234, 511 * MiB, GiB - 1]) {
      expect(translate(memory, cr3, BigInt(address)), address.toString(16)).to.equal(BigInt(address));
    }
  });

  it('maps nothing beyond 1 GiB', () => {
    expect(translate(memory, cr3, BigInt(GiB))).to.equal(undefined);
    expect(translate(memory, cr3, 1n << 39n)).to.equal(undefined);
  });
});
