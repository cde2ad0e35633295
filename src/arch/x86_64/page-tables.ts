// Identity-mapped page tables for entering the kernel in long mode.
//
// The 64-bit boot protocol (Documentation/x86/boot.rst) enters the kernel
// with paging on and requires the kernel, the zero page and the command line
// to be identity-mapped. One PML4 entry → one PDPT entry → one page directory
// of 512 2 MiB pages maps the first 1 GiB, which covers all three (the
// kernel sits at 16 MiB). The kernel replaces these tables within its first
// few instructions. Entry formats: Intel SDM vol. 3A, section 4.5 (4-level
// paging), tables 4-15 (PML4E), 4-17 (PDPTE), 4-18 (PDE mapping a 2 MiB page).
import { GiB, MiB, PDE_START, PDPTE_START, PML4_START } from './layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';

/** Bit 0 P: the entry is present. */
export const PTE_PRESENT = 1 << 0;
/** Bit 1 R/W: writes allowed. */
export const PTE_WRITABLE = 1 << 1;
/** Bit 7 PS in a PDE: the entry maps a 2 MiB page instead of pointing to a page table. */
export const PTE_PAGE_SIZE = 1 << 7;

/** Each paging structure is one 4 KiB page of 512 eight-byte entries. */
export const PAGE_TABLE_ENTRIES = 512;
const ENTRY_SIZE = 8;
const LARGE_PAGE_SIZE = 2 * MiB;

/** Guest-physical range [0, IDENTITY_MAPPED_SIZE) is mapped at the first KVM_RUN. */
export const IDENTITY_MAPPED_SIZE = 1 * GiB;

/** Writes the PML4, PDPT and PD; returns the value for CR3 (the PML4's address). */
export function writeIdentityPageTables(memory: GuestMemory): number {
  const table = PAGE_TABLE_ENTRIES * ENTRY_SIZE;
  memory.fill(PML4_START, table, 0);
  memory.fill(PDPTE_START, table, 0);
  memory.fill(PDE_START, table, 0);

  memory.writeU64(PML4_START, PDPTE_START | PTE_PRESENT | PTE_WRITABLE);
  memory.writeU64(PDPTE_START, PDE_START | PTE_PRESENT | PTE_WRITABLE);
  for (let i = 0; i < IDENTITY_MAPPED_SIZE / LARGE_PAGE_SIZE; i++) {
    memory.writeU64(PDE_START + i * ENTRY_SIZE, i * LARGE_PAGE_SIZE + (PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE));
  }
  return PML4_START;
}
