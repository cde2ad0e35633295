// Builds small ELF64 files in memory for the loader specs: an ELF header,
// the program header table right after it, then each segment's bytes.
export interface FixtureSegment {
  readonly type?: number;
  readonly paddr: number;
  readonly data: Uint8Array;
  readonly memsz?: number;
}

export interface FixtureNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
}

export interface FixtureOptions {
  readonly entry: number;
  readonly segments: readonly FixtureSegment[];
  readonly notes?: readonly FixtureNote[];
}

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const EHDR_SIZE = 64;
export const PHDR_SIZE = 56;

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

export function noteBytes(notes: readonly FixtureNote[]): Uint8Array {
  const parts: number[] = [];
  for (const note of notes) {
    const name = new TextEncoder().encode(`${note.name}\0`);
    const bytes = new Uint8Array(12 + pad4(name.length) + pad4(note.desc.length));
    const view = new DataView(bytes.buffer);
    view.setUint32(0, name.length, true);
    view.setUint32(4, note.desc.length, true);
    view.setUint32(8, note.type, true);
    bytes.set(name, 12);
    bytes.set(note.desc, 12 + pad4(name.length));
    parts.push(...bytes);
  }
  return Uint8Array.from(parts);
}

export function buildElf(options: FixtureOptions): Uint8Array {
  const segments: FixtureSegment[] = [...options.segments];
  if (options.notes) segments.push({ type: PT_NOTE, paddr: 0, data: noteBytes(options.notes) });
  const dataStart = EHDR_SIZE + segments.length * PHDR_SIZE;
  const total = dataStart + segments.reduce((sum, s) => sum + s.data.length, 0);
  const file = new Uint8Array(total);
  const view = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  view.setUint16(0x10, 2, true); // ET_EXEC
  view.setUint16(0x12, 62, true); // EM_X86_64
  view.setUint32(0x14, 1, true);
  view.setBigUint64(0x18, BigInt(options.entry), true);
  view.setBigUint64(0x20, BigInt(EHDR_SIZE), true);
  view.setUint16(0x34, EHDR_SIZE, true);
  view.setUint16(0x36, PHDR_SIZE, true);
  view.setUint16(0x38, segments.length, true);
  let offset = dataStart;
  segments.forEach((seg, i) => {
    const at = EHDR_SIZE + i * PHDR_SIZE;
    view.setUint32(at, seg.type ?? PT_LOAD, true);
    view.setUint32(at + 4, 5, true); // R+X
    view.setBigUint64(at + 0x08, BigInt(offset), true);
    view.setBigUint64(at + 0x10, BigInt(seg.paddr) + 0xffffffff80000000n, true); // p_vaddr, like vmlinux
    view.setBigUint64(at + 0x18, BigInt(seg.paddr), true);
    view.setBigUint64(at + 0x20, BigInt(seg.data.length), true);
    view.setBigUint64(at + 0x28, BigInt(seg.memsz ?? seg.data.length), true);
    view.setBigUint64(at + 0x30, 0x200000n, true);
    file.set(seg.data, offset);
    offset += seg.data.length;
  });
  return file;
}

/** Offset of field `field` in program header `index` of a fixture. */
export function phdrField(index: number, field: number): number {
  return EHDR_SIZE + index * PHDR_SIZE + field;
}
