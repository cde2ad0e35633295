// Just enough of ELF64 to check a vmlinux: the header, program headers, and
// the notes in PT_NOTE segments. Every offset is checked against the file.

export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ET_EXEC = 2;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const EI_CLASS = 4;
const EI_DATA = 5;
const ELF64_HEADER_SIZE = 64;
const ELF64_PHDR_SIZE = 56;
/** Note names and descriptors are padded to 4 bytes in ELF64 kernels' notes. */
const NOTE_ALIGNMENT = 4;

export interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  fileSize: number;
  memSize: bigint;
}
export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}
export interface Elf64 {
  elfClass: number;
  data: number;
  type: number;
  machine: number;
  entry: bigint;
  segments: ProgramHeader[];
}

function need(file: Buffer, offset: number, length: number, what: string): void {
  if (offset < 0 || length < 0 || offset + length > file.length) throw new Error(`elf: ${what} outside the file`);
}

export function readElf64(file: Buffer): Elf64 {
  need(file, 0, ELF64_HEADER_SIZE, 'header');
  if (!file.subarray(0, 4).equals(ELF_MAGIC)) throw new Error('elf: no ELF magic');
  const phoff = Number(file.readBigUInt64LE(32));
  const phentsize = file.readUInt16LE(54);
  const phnum = file.readUInt16LE(56);
  if (phentsize !== ELF64_PHDR_SIZE) throw new Error(`elf: program header size ${phentsize}`);
  need(file, phoff, phnum * phentsize, 'program headers');
  const segments: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    segments.push({
      type: file.readUInt32LE(at),
      offset: Number(file.readBigUInt64LE(at + 8)),
      vaddr: file.readBigUInt64LE(at + 16),
      paddr: file.readBigUInt64LE(at + 24),
      fileSize: Number(file.readBigUInt64LE(at + 32)),
      memSize: file.readBigUInt64LE(at + 40),
    });
  }
  return {
    elfClass: file[EI_CLASS]!,
    data: file[EI_DATA]!,
    type: file.readUInt16LE(16),
    machine: file.readUInt16LE(18),
    entry: file.readBigUInt64LE(24),
    segments,
  };
}

const pad = (n: number) => Math.ceil(n / NOTE_ALIGNMENT) * NOTE_ALIGNMENT;

/** Every note of every PT_NOTE segment. */
export function readNotes(file: Buffer, elf: Elf64): ElfNote[] {
  const notes: ElfNote[] = [];
  for (const segment of elf.segments.filter((s) => s.type === PT_NOTE)) {
    need(file, segment.offset, segment.fileSize, 'note segment');
    let at = segment.offset;
    const end = segment.offset + segment.fileSize;
    while (at + 12 <= end) {
      const nameSize = file.readUInt32LE(at);
      const descSize = file.readUInt32LE(at + 4);
      const type = file.readUInt32LE(at + 8);
      const nameAt = at + 12;
      const descAt = nameAt + pad(nameSize);
      if (descAt + descSize > end) throw new Error('elf: note runs past its segment');
      notes.push({
        name: file.toString('latin1', nameAt, nameAt + nameSize).replace(/\0+$/, ''),
        type,
        desc: file.subarray(descAt, descAt + descSize),
      });
      at = descAt + pad(descSize);
    }
  }
  return notes;
}
