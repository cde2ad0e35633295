// The boot vCPU's registers at the first KVM_RUN of the 64-bit boot protocol
// (Documentation/x86/boot.rst, "64-bit Boot Protocol"): long mode with
// paging on, flat __BOOT_CS/__BOOT_DS segments, interrupts off, %rsi
// pointing at the zero page. Typed as the KVM layer's own struct kvm_regs /
// kvm_sregs (src/kvm/structs.ts), so it copies them 1:1.
//
// Only the boot vCPU gets these. Application processors stay in KVM's
// wait-for-SIPI state and are started by the kernel through the local APIC.
import {
  BOOT_CS_SELECTOR,
  BOOT_DS_SELECTOR,
  BOOT_GDT_SIZE,
  BOOT_IDT_LIMIT,
  BOOT_TSS_SELECTOR,
  CODE64_DESCRIPTOR,
  DATA_DESCRIPTOR,
  TSS_DESCRIPTOR,
  segmentFromDescriptor,
} from './gdt.js';
import type { KvmSegment, KvmSregs, RegisterName } from '../../kvm/structs.js';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, ZERO_PAGE_START } from './layout.js';

/** CR0 bits (SDM vol. 3A, section 2.5). PE: protected mode; ET: 387 present (fixed 1); PG: paging. */
export const CR0_PE = 1 << 0;
export const CR0_ET = 1 << 4;
export const CR0_PG = 0x8000_0000;
/** CR4.PAE (bit 5): required for long mode. */
export const CR4_PAE = 1 << 5;
/** IA32_EFER (SDM vol. 3A, section 2.2.1). LME: enable long mode; LMA: long mode active. */
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
/** RFLAGS bit 1 is reserved and always 1; IF = 0 keeps interrupts off as boot.rst requires. */
export const RFLAGS_RESERVED_ONE = 0x2;

/** Every struct kvm_regs field: the boot path sets them all. */
export type BootRegisters = Record<RegisterName, number>;

/**
 * The struct kvm_sregs fields the boot path decides. Merge them into what
 * KVM_GET_SREGS returned: ldt, cr2, cr8, apic_base and interrupt_bitmap keep
 * KVM's values (apic_base in particular must stay as KVM set it).
 */
export type BootSpecialRegisters = Omit<KvmSregs, 'ldt' | 'cr2' | 'cr8' | 'apic_base'>;

/** General registers for entering the kernel at `entry` (its 64-bit entry point). */
export function bootRegisters(entry: number): BootRegisters {
  return {
    rax: 0,
    rbx: 0,
    rcx: 0,
    rdx: 0,
    rsi: ZERO_PAGE_START,
    rdi: 0,
    rsp: BOOT_STACK_POINTER,
    rbp: BOOT_STACK_POINTER,
    r8: 0,
    r9: 0,
    r10: 0,
    r11: 0,
    r12: 0,
    r13: 0,
    r14: 0,
    r15: 0,
    rip: entry,
    rflags: RFLAGS_RESERVED_ONE,
  };
}

/** Special registers for long mode over the boot GDT and the page tables at `pml4Address`. */
export function bootSpecialRegisters(pml4Address: number): BootSpecialRegisters {
  const data = (): KvmSegment => segmentFromDescriptor(DATA_DESCRIPTOR, BOOT_DS_SELECTOR);
  return {
    cs: segmentFromDescriptor(CODE64_DESCRIPTOR, BOOT_CS_SELECTOR),
    ds: data(),
    es: data(),
    fs: data(),
    gs: data(),
    ss: data(),
    tr: segmentFromDescriptor(TSS_DESCRIPTOR, BOOT_TSS_SELECTOR),
    gdt: { base: BOOT_GDT_START, limit: BOOT_GDT_SIZE - 1 },
    idt: { base: BOOT_IDT_START, limit: BOOT_IDT_LIMIT },
    // CD and NW stay clear (caches on); ET is hard-wired to 1 on every x86-64 CPU.
    cr0: (CR0_PE | CR0_ET | CR0_PG) >>> 0,
    cr3: pml4Address,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA,
  };
}
