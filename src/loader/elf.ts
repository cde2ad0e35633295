// Loads an uncompressed Linux kernel (vmlinux, an ELF64 x86-64 executable)
// into guest memory. The file is untrusted: every header field is checked
// against the file size with arithmetic that cannot overflow before a single
// byte is read through it, so a malformed file gives one clear error line.
//
// Field offsets follow the System V ABI "ELF-64 Object File Format" (v1.5):
// section 3 (ELF header), section 6 (program header table), section 5 (notes).
import { BootError, hex } from '../arch/x86_64/boot-error.js';
import { HIMEM_START } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';

// ---- ELF header (ELF-64 spec, section 3) -----------------------------------
/** Size of the ELF64 file header. */
const EHDR_SIZE = 64;
/** e_ident[EI_MAG0..3]: 0x7f 'E' 'L' 'F'. */
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
/** e_ident[EI_CLASS]; ELFCLASS64 = 2. */
const EI_CLASS = 4;
const ELFCLASS64 = 2;
/** e_ident[EI_DATA]; ELFDATA2LSB = 1 (little-endian). */
const EI_DATA = 5;
const ELFDATA2LSB = 1;
/** e_ident[EI_VERSION]; EV_CURRENT = 1. */
const EI_VERSION = 6;
const EV_CURRENT = 1;
/** e_type (u16); vmlinux is ET_EXEC = 2 (not relocatable, not shared). */
const E_TYPE = 0x10;
const ET_EXEC = 2;
/** e_machine (u16); EM_X86_64 = 62. */
const E_MACHINE = 0x12;
const EM_X86_64 = 62;
/** e_entry (u64): for vmlinux, the physical address of startup_64. */
const E_ENTRY = 0x18;
/** e_phoff (u64): file offset of the program header table. */
const E_PHOFF = 0x20;
/** e_phentsize (u16), e_phnum (u16). */
const E_PHENTSIZE = 0x36;
const E_PHNUM = 0x38;
/** e_phnum == PN_XNUM means the real count lives in section 0; vmlinux never needs it. */
const PN_XNUM = 0xffff;

// ---- Program header (ELF-64 spec, section 6) -------------------------------
/** Size of one Elf64_Phdr. */
const PHDR_SIZE = 56;
const P_TYPE = 0x00;
const P_OFFSET = 0x08;
const P_PADDR = 0x18;
const P_FILESZ = 0x20;
const P_MEMSZ = 0x28;
/** p_type values: loadable segment, auxiliary notes. */
const PT_LOAD = 1;
const PT_NOTE = 4;

// ---- Notes (ELF-64 spec, section 5; Xen's public/elfnote.h) ----------------
/** Elf64_Nhdr: namesz, descsz, type, each u32; name and desc are padded to 4 bytes. */
const NHDR_SIZE = 12;
const NOTE_ALIGN = 4;
/** Owner name of Xen notes, NUL-terminated. */
const XEN_NOTE_NAME = 'Xen\0';
/** XEN_ELFNOTE_PHYS32_ENTRY: 32-bit physical entry point of the PVH boot path. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** 2^32: u64 fields are read as two u32 halves. */
const TWO_POW_32 = 0x1_0000_0000;

/** What the VMM needs to know about a loaded kernel. */
export interface LoadedKernel {
  /** Entry of the 64-bit boot protocol (e_entry; physical for vmlinux). */
  readonly entry: number;
  /** Lowest guest-physical byte any PT_LOAD segment occupies. */
  readonly kernelStart: number;
  /** One past the highest guest-physical byte any PT_LOAD segment occupies. */
  readonly kernelEnd: number;
  /** PVH entry from the XEN_ELFNOTE_PHYS32_ENTRY note, when the kernel has one. */
  readonly pvhEntry?: number;
}

function malformed(problem: string): BootError {
  return new BootError(`not an x86-64 vmlinux ELF: ${problem}`);
}

/** Bounds-checked little-endian reads over the untrusted file. */
class ElfReader {
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get size(): number {
    return this.bytes.length;
  }

  /** True when [offset, offset + length) is inside the file; never overflows. */
  contains(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset <= this.size && length <= this.size - offset;
  }

  u8(offset: number, what: string): number {
    this.require(offset, 1, what);
    return this.view.getUint8(offset);
  }

  u16(offset: number, what: string): number {
    this.require(offset, 2, what);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, what: string): number {
    this.require(offset, 4, what);
    return this.view.getUint32(offset, true);
  }

  /** A u64 that must fit a JS number exactly (every sane address and size does). */
  u64(offset: number, what: string): number {
    this.require(offset, 8, what);
    const low = this.view.getUint32(offset, true);
    const high = this.view.getUint32(offset + 4, true);
    const value = high * TWO_POW_32 + low;
    if (!Number.isSafeInteger(value)) throw malformed(`${what} (${hex(value)}) is too large`);
    return value;
  }

  private require(offset: number, length: number, what: string): void {
    if (!this.contains(offset, length)) {
      throw malformed(`${what} at file offset ${offset} lies beyond the end of the file (${this.size} bytes)`);
    }
  }
}

interface ProgramHeader {
  readonly index: number;
  readonly type: number;
  readonly offset: number;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
}

/** Checks the ELF header and returns the program headers, all within the file. */
function parseHeaders(file: ElfReader): { entry: number; phdrs: ProgramHeader[] } {
  if (file.size < EHDR_SIZE) throw malformed(`file is ${file.size} bytes, shorter than an ELF64 header`);
  ELF_MAGIC.forEach((byte, i) => {
    if (file.u8(i, 'magic') !== byte) throw malformed('bad magic (expected \\x7fELF)');
  });
  if (file.u8(EI_CLASS, 'class') !== ELFCLASS64) throw malformed('not a 64-bit ELF');
  if (file.u8(EI_DATA, 'data encoding') !== ELFDATA2LSB) throw malformed('not little-endian');
  if (file.u8(EI_VERSION, 'version') !== EV_CURRENT) throw malformed('unknown ELF version');
  const type = file.u16(E_TYPE, 'e_type');
  if (type !== ET_EXEC) throw malformed(`e_type is ${type}, expected an executable (${ET_EXEC})`);
  const machine = file.u16(E_MACHINE, 'e_machine');
  if (machine !== EM_X86_64) throw malformed(`e_machine is ${machine}, expected x86-64 (${EM_X86_64})`);

  const entry = file.u64(E_ENTRY, 'e_entry');
  const phoff = file.u64(E_PHOFF, 'e_phoff');
  const phentsize = file.u16(E_PHENTSIZE, 'e_phentsize');
  const phnum = file.u16(E_PHNUM, 'e_phnum');
  if (phentsize !== PHDR_SIZE) throw malformed(`e_phentsize is ${phentsize}, expected ${PHDR_SIZE}`);
  if (phnum === 0 || phnum === PN_XNUM) throw malformed(`unsupported program header count ${phnum}`);
  // phnum < 2^16 and phentsize == 56, so the product is exact.
  if (!file.contains(phoff, phnum * PHDR_SIZE)) {
    throw malformed(`program header table (${phnum} entries at offset ${phoff}) lies beyond the end of the file`);
  }

  const phdrs: ProgramHeader[] = [];
  for (let index = 0; index < phnum; index++) {
    const at = phoff + index * PHDR_SIZE;
    const phdr: ProgramHeader = {
      index,
      type: file.u32(at + P_TYPE, 'p_type'),
      offset: file.u64(at + P_OFFSET, 'p_offset'),
      paddr: file.u64(at + P_PADDR, 'p_paddr'),
      filesz: file.u64(at + P_FILESZ, 'p_filesz'),
      memsz: file.u64(at + P_MEMSZ, 'p_memsz'),
    };
    if ((phdr.type === PT_LOAD || phdr.type === PT_NOTE) && !file.contains(phdr.offset, phdr.filesz)) {
      throw malformed(`segment ${index} (offset ${phdr.offset}, ${phdr.filesz} bytes) lies beyond the end of the file`);
    }
    phdrs.push(phdr);
  }
  return { entry, phdrs };
}

/** Rounds n up to the note alignment without leaving safe integers. */
function alignNote(n: number): number {
  return Math.ceil(n / NOTE_ALIGN) * NOTE_ALIGN;
}

/** Finds XEN_ELFNOTE_PHYS32_ENTRY in the PT_NOTE segments; undefined when absent. */
function findPvhEntry(file: ElfReader, phdrs: readonly ProgramHeader[]): number | undefined {
  const wantedName = new TextEncoder().encode(XEN_NOTE_NAME);
  for (const phdr of phdrs) {
    if (phdr.type !== PT_NOTE) continue;
    const end = phdr.offset + phdr.filesz;
    let at = phdr.offset;
    while (end - at >= NHDR_SIZE) {
      const namesz = file.u32(at, 'note namesz');
      const descsz = file.u32(at + 4, 'note descsz');
      const type = file.u32(at + 8, 'note type');
      const nameAt = at + NHDR_SIZE;
      const descAt = nameAt + alignNote(namesz);
      const next = descAt + alignNote(descsz);
      if (next > end) throw malformed(`note at file offset ${at} runs past its segment`);
      const isXen = namesz === wantedName.length && wantedName.every((byte, i) => file.bytes[nameAt + i] === byte);
      if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY) {
        // Linux emits the entry as a 32-bit value or, in some versions, as a pointer-sized one.
        if (descsz === 4) return file.u32(descAt, 'PVH entry');
        if (descsz === 8) {
          const entry = file.u64(descAt, 'PVH entry');
          if (entry >= TWO_POW_32) throw malformed(`PVH entry ${hex(entry)} is not a 32-bit address`);
          return entry;
        }
        throw malformed(`PVH entry note has a ${descsz}-byte descriptor`);
      }
      at = next;
    }
  }
  return undefined;
}

/** A vmlinux whose headers, segments and notes have all been checked against the file. */
export interface ParsedKernel extends LoadedKernel {
  readonly segments: readonly {
    readonly index: number;
    readonly paddr: number;
    readonly offset: number;
    readonly filesz: number;
    readonly memsz: number;
  }[];
}

/**
 * Checks `kernel` as a vmlinux without touching guest memory, and that it fits
 * `memory` when given. The CLI runs this on the host before anything
 * starts (also before a command is handed to the helper VM), so a wrong file
 * is one line from the command the user typed.
 */
export function parseElfKernel(kernel: Uint8Array, memory?: Pick<GuestMemory, 'isValidRange'>): ParsedKernel {
  const file = new ElfReader(kernel);
  const { entry, phdrs } = parseHeaders(file);
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) throw malformed('no loadable segment');

  for (const seg of loads) {
    if (seg.filesz > seg.memsz) {
      throw malformed(`segment ${seg.index} has more file bytes (${seg.filesz}) than memory bytes (${seg.memsz})`);
    }
    if (seg.paddr < HIMEM_START) {
      throw new BootError(`kernel segment ${seg.index} at ${hex(seg.paddr)} lies below ${hex(HIMEM_START)}, where the boot structures live`);
    }
    if (memory && !memory.isValidRange(seg.paddr, seg.memsz)) {
      throw new BootError(
        `kernel segment ${seg.index} (${hex(seg.paddr)}, ${seg.memsz} bytes) does not fit in guest memory; give the VM more memory`,
      );
    }
  }
  const kernelStart = Math.min(...loads.map((s) => s.paddr));
  const kernelEnd = Math.max(...loads.map((s) => s.paddr + s.memsz));
  if (entry < kernelStart || entry >= kernelEnd) {
    throw malformed(`entry point ${hex(entry)} is outside the loaded segments [${hex(kernelStart)}, ${hex(kernelEnd)})`);
  }
  const pvhEntry = findPvhEntry(file, phdrs);
  const segments = loads.map(({ index, paddr, offset, filesz, memsz }) => ({ index, paddr, offset, filesz, memsz }));
  return pvhEntry === undefined ? { entry, kernelStart, kernelEnd, segments } : { entry, kernelStart, kernelEnd, pvhEntry, segments };
}

/**
 * Parses `kernel` as a vmlinux and copies its PT_LOAD segments to their
 * physical addresses in `memory`, zero-filling the part of each segment the
 * file does not carry (.bss). Nothing is written unless the whole file is
 * valid and every segment fits.
 */
export function loadElfKernel(memory: GuestMemory, kernel: Uint8Array): LoadedKernel {
  const { segments, ...loaded } = parseElfKernel(kernel, memory);
  for (const seg of segments) {
    memory.write(seg.paddr, kernel.subarray(seg.offset, seg.offset + seg.filesz));
    memory.fill(seg.paddr + seg.filesz, seg.memsz - seg.filesz, 0);
  }
  return loaded;
}
