// Translates a guest-virtual address to guest-physical by walking the
// guest's 4-level page tables, for explaining a crash (the instruction bytes
// at RIP). Every table read goes through GuestMemory, so a corrupt or hostile
// CR3 yields `undefined`, never a host fault.
import type { GuestMemory } from '../../memory/guest-memory.js';

const PAGE_PRESENT = 1n;
const PAGE_SIZE_BIT = 1n << 7n;
/** Physical-address bits 51:12 of a table entry. */
const ENTRY_ADDRESS_MASK = 0x000f_ffff_ffff_f000n;
const LEVEL_SHIFTS = [39n, 30n, 21n, 12n];
const INDEX_MASK = 0x1ffn;
const CR0_PG = 1n << 31n;

/** The physical address of `virtual`, or undefined if it is unmapped or the tables are unreadable. */
export function translate(memory: GuestMemory, cr0: bigint, cr3: bigint, virtual: bigint): number | undefined {
  if ((cr0 & CR0_PG) === 0n) return Number(virtual);
  let table = cr3 & ENTRY_ADDRESS_MASK;
  for (let level = 0; level < LEVEL_SHIFTS.length; level++) {
    const shift = LEVEL_SHIFTS[level]!;
    const entryAddress = Number(table + ((virtual >> shift) & INDEX_MASK) * 8n);
    if (!memory.isValidRange(entryAddress, 8)) return undefined;
    const low = BigInt(memory.readU32(entryAddress));
    const high = BigInt(memory.readU32(entryAddress + 4));
    const entry = (high << 32n) | low;
    if ((entry & PAGE_PRESENT) === 0n) return undefined;
    const isLeaf = level === LEVEL_SHIFTS.length - 1 || (level > 0 && (entry & PAGE_SIZE_BIT) !== 0n);
    if (isLeaf) {
      const pageMask = (1n << shift) - 1n;
      return Number((entry & ENTRY_ADDRESS_MASK & ~pageMask) | (virtual & pageMask));
    }
    table = entry & ENTRY_ADDRESS_MASK;
  }
  return undefined;
}
