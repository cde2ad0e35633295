// Lays out everything a Linux guest needs in memory before its first
// KVM_RUN under the 64-bit boot protocol: the kernel, the initrd, the command
// line, the zero page with the e820 map, identity page tables, the boot GDT
// and the MP table; and says which registers and MSRs the vCPUs start with.
//
// Why the 64-bit boot protocol rather than PVH: it enters the kernel already
// in long mode, so mvm needs no 32-bit guest code and no PVH start_info, and
// the same path serves a bzImage's embedded vmlinux later. The PVH entry is
// still reported (LoadedKernel.pvhEntry) for whoever wants it.
import { BootError, hex } from '../arch/x86_64/boot-error.js';
import { writeBootParams } from '../arch/x86_64/boot-params.js';
import { bootRegisters, bootSpecialRegisters, type BootSpecialRegisters, type BootRegisters } from '../arch/x86_64/boot-registers.js';
import { e820Map, guestRamRegions, type E820Entry, type RamRegion } from '../arch/x86_64/e820.js';
import { writeBootGdt } from '../arch/x86_64/gdt.js';
import { maxMpTableCpus, writeMpTable } from '../arch/x86_64/mptable.js';
import { bootMsrs } from '../arch/x86_64/msrs.js';
import type { MsrEntry } from '../kvm/structs.js';
import { IDENTITY_MAPPED_SIZE, writeIdentityPageTables } from '../arch/x86_64/page-tables.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { KernelCmdline, writeCmdline, type PlacedCmdline } from './cmdline.js';
import { loadElfKernel, type LoadedKernel } from './elf.js';
import { loadInitrd, type InitrdPlacement } from './initrd.js';

export interface BootSetupOptions {
  /** The vmlinux file's bytes. */
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array;
  /** The whole command line (a string is checked as if the user typed it). */
  readonly cmdline: string | KernelCmdline;
  readonly cpus: number;
}

export interface BootSetup {
  /** Where the boot vCPU starts (registers.rip). */
  readonly entry: number;
  readonly kernel: LoadedKernel;
  readonly initrd?: InitrdPlacement;
  readonly cmdline: PlacedCmdline;
  readonly e820: readonly E820Entry[];
  /** For the boot vCPU only (KVM_SET_REGS); the others wait for the kernel's SIPI. */
  readonly registers: BootRegisters;
  /** For the boot vCPU only; merge into KVM_GET_SREGS's result before KVM_SET_SREGS. */
  readonly specialRegisters: BootSpecialRegisters;
  /** For every vCPU (KVM_SET_MSRS). */
  readonly msrs: readonly MsrEntry[];
}

/**
 * The RAM layout every boot structure follows (the e820 map, the initrd's
 * place), worked out once from what `memory` holds: the layout for its total
 * size, which its regions (however they are split into mappings) must cover.
 */
function ramLayout(memory: GuestMemory): RamRegion[] {
  const ram = guestRamRegions(memory.totalSize);
  for (const region of ram) {
    if (!memory.coversRange(region.guestAddress, region.size)) {
      throw new BootError(`guest memory does not map ${hex(region.guestAddress)}+${region.size} bytes, which the memory map announces`);
    }
  }
  return ram;
}

/** Writes the whole boot layout into `memory` and returns the vCPU start state. */
export function setupBoot(memory: GuestMemory, options: BootSetupOptions): BootSetup {
  const ram = ramLayout(memory);
  const maxCpus = maxMpTableCpus();
  if (!Number.isInteger(options.cpus) || options.cpus < 1 || options.cpus > maxCpus) {
    throw new BootError(`${options.cpus} vCPUs requested: mvm supports 1 to ${maxCpus}`);
  }
  const cmdline = typeof options.cmdline === 'string' ? new KernelCmdline().appendRaw(options.cmdline) : options.cmdline;

  const kernel = loadElfKernel(memory, options.kernel);
  if (kernel.kernelEnd > IDENTITY_MAPPED_SIZE) {
    throw new BootError(`the kernel ends at ${hex(kernel.kernelEnd)}, beyond the ${IDENTITY_MAPPED_SIZE >> 20} MiB mapped at entry`);
  }
  const initrd = options.initrd
    ? loadInitrd(memory, options.initrd, {
        ram,
        kernelStart: kernel.kernelStart,
        kernelEnd: kernel.kernelEnd,
      })
    : undefined;
  const placedCmdline = writeCmdline(memory, cmdline);
  const e820 = e820Map(ram);
  writeBootParams(memory, {
    cmdlineAddress: placedCmdline.address,
    cmdlineLength: placedCmdline.length,
    e820,
    ...(initrd ? { initrd } : {}),
  });
  const cr3 = writeIdentityPageTables(memory);
  writeBootGdt(memory);
  writeMpTable(memory, options.cpus);

  return {
    entry: kernel.entry,
    kernel,
    ...(initrd ? { initrd } : {}),
    cmdline: placedCmdline,
    e820,
    registers: bootRegisters(kernel.entry),
    specialRegisters: bootSpecialRegisters(cr3),
    msrs: bootMsrs(),
  };
}
