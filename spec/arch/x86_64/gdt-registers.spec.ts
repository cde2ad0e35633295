import { expect } from 'chai';
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, bootRegisters, bootSpecialRegisters } from '../../../src/arch/x86_64/boot-registers.js';
import { BOOT_GDT_SIZE, writeBootGdt } from '../../../src/arch/x86_64/gdt.js';
import type { KvmSegment } from '../../../src/kvm/structs.js';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PML4_START, ZERO_PAGE_START } from '../../../src/arch/x86_64/layout.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

/** Decodes a descriptor the way the CPU does when a selector is loaded (SDM 3.4.5). */
function decode(memory: GuestMemory, selector: number): Omit<KvmSegment, 'unusable'> {
  const low = memory.readU32(BOOT_GDT_START + selector);
  const high = memory.readU32(BOOT_GDT_START + selector + 4);
  const rawLimit = (low & 0xffff) | (high & 0xf0000);
  const g = (high >>> 23) & 1;
  return {
    base: ((low >>> 16) | ((high & 0xff) << 16) | (high & 0xff000000)) >>> 0,
    limit: g ? (rawLimit * 4096 + 4095) >>> 0 : rawLimit,
    selector,
    type: (high >>> 8) & 0xf,
    s: (high >>> 12) & 1,
    dpl: (high >>> 13) & 3,
    present: (high >>> 15) & 1,
    avl: (high >>> 20) & 1,
    l: (high >>> 21) & 1,
    db: (high >>> 22) & 1,
    g,
  };
}

describe('arch/x86_64 boot GDT and registers', () => {
  const memory = GuestMemory.fromSizes([{ guestAddress: 0, size: 0x10000 }]);
  memory.fill(BOOT_GDT_START, 0x100, 0xee);
  writeBootGdt(memory);
  const sregs = bootSpecialRegisters(PML4_START);

  it('writes the well-known flat descriptors at the selectors boot.rst requires', () => {
    const raw = (selector: number) => memory.read(BOOT_GDT_START + selector, 8);
    const asU64 = (bytes: Uint8Array) => new DataView(bytes.buffer).getBigUint64(0, true);
    expect(asU64(raw(0x00)), 'null').to.equal(0n);
    expect(asU64(raw(0x08)), 'unused slot is null').to.equal(0n);
    expect(asU64(raw(0x10)), '__BOOT_CS: 64-bit code').to.equal(0x00af9b000000ffffn);
    expect(asU64(raw(0x18)), '__BOOT_DS: flat data').to.equal(0x00cf93000000ffffn);
    expect(asU64(raw(0x20)), 'busy 64-bit TSS').to.equal(0x00008b0000000067n);
    expect(asU64(raw(0x28)), 'TSS upper half (base 63:32)').to.equal(0n);
  });

  it('fits the GDT before the IDT and points GDTR/IDTR at them', () => {
    expect(BOOT_GDT_START + BOOT_GDT_SIZE).to.be.at.most(BOOT_IDT_START);
    expect(sregs.gdt).to.deep.equal({ base: BOOT_GDT_START, limit: BOOT_GDT_SIZE - 1 });
    expect(sregs.idt.base).to.equal(BOOT_IDT_START);
  });

  it('derives every segment register from the descriptor its selector names', () => {
    expect(sregs.cs.selector).to.equal(0x10);
    expect(sregs.tr.selector).to.equal(0x20);
    for (const name of ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr'] as const) {
      const { unusable, ...segment } = sregs[name];
      expect(segment, name).to.deep.equal(decode(memory, segment.selector));
      expect(unusable, name).to.equal(0);
    }
    for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) expect(sregs[name].selector, name).to.equal(0x18);
  });

  it('has a 64-bit code segment (L=1, D=0) and flat 4 GiB data segments', () => {
    expect(sregs.cs).to.include({ l: 1, db: 0, present: 1, s: 1, dpl: 0, limit: 0xffffffff });
    expect(sregs.ds).to.include({ l: 0, db: 1, type: 3, limit: 0xffffffff, base: 0 });
    expect(sregs.tr).to.include({ s: 0, type: 0xb, present: 1 });
  });

  it('enters long mode with paging on the given tables', () => {
    const cr0 = Number(sregs.cr0);
    const cr4 = Number(sregs.cr4);
    expect(cr0 & CR0_PE).to.equal(CR0_PE);
    expect((cr0 & CR0_PG) >>> 0).to.equal(CR0_PG);
    expect(cr0 & 0x6000_0000, 'CD and NW clear: caches on').to.equal(0);
    expect(sregs.cr3).to.equal(PML4_START);
    expect(cr4 & CR4_PAE).to.equal(CR4_PAE);
    expect(sregs.efer).to.equal(EFER_LME | EFER_LMA);
    expect(sregs.efer).to.equal(0x500);
  });

  it('starts at the entry with rsi on the zero page, the boot stack and interrupts off', () => {
    const regs = bootRegisters(0x1000000);
    expect(regs).to.include({
      rip: 0x1000000,
      rsi: ZERO_PAGE_START,
      rsp: BOOT_STACK_POINTER,
      rbp: BOOT_STACK_POINTER,
      rflags: 0x2,
    });
    expect(Object.keys(regs)).to.have.length(18);
  });
});
