// A reader for "newc" cpio archives (the initramfs format), strict enough to
// catch a malformed archive: every header, name and body is bounds-checked.
// Format: the kernel's Documentation/driver-api/early-userspace/buffer-format.rst.

const MAGIC = '070701';
const HEADER_SIZE = 110;
/** Thirteen 8-digit hex fields follow the 6-byte magic. */
const FIELD_COUNT = 13;
const FIELD_WIDTH = 8;
const TRAILER_NAME = 'TRAILER!!!';
/** Headers, names and bodies start on 4-byte boundaries. */
const ALIGNMENT = 4;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export interface CpioEntry {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Buffer;
}

function align(offset: number): number {
  return Math.ceil(offset / ALIGNMENT) * ALIGNMENT;
}

/** Parses a whole archive up to its trailer; throws on any inconsistency. */
export function readNewc(archive: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let offset = 0;
  for (;;) {
    if (offset + HEADER_SIZE > archive.length) throw new Error(`cpio: header at ${offset} runs past the end`);
    const header = archive.toString('latin1', offset, offset + HEADER_SIZE);
    if (!header.startsWith(MAGIC)) throw new Error(`cpio: bad magic at ${offset}`);
    const fields: number[] = [];
    for (let i = 0; i < FIELD_COUNT; i++) {
      const text = header.slice(MAGIC.length + i * FIELD_WIDTH, MAGIC.length + (i + 1) * FIELD_WIDTH);
      if (!/^[0-9A-Fa-f]{8}$/.test(text)) throw new Error(`cpio: bad header field ${i} at ${offset}`);
      fields.push(parseInt(text, 16));
    }
    const [, mode, uid, gid, , mtime, fileSize, , , rdevMajor, rdevMinor, nameSize] = fields as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const nameStart = offset + HEADER_SIZE;
    if (nameSize < 1 || nameStart + nameSize > archive.length) throw new Error(`cpio: bad name size at ${offset}`);
    if (archive[nameStart + nameSize - 1] !== 0) throw new Error(`cpio: name not NUL-terminated at ${offset}`);
    const name = archive.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = align(nameStart + nameSize);
    if (dataStart + fileSize > archive.length) throw new Error(`cpio: body of ${name} runs past the end`);
    if (name === TRAILER_NAME) return entries;
    entries.push({ name, mode, uid, gid, mtime, rdevMajor, rdevMinor, data: archive.subarray(dataStart, dataStart + fileSize) });
    offset = align(dataStart + fileSize);
  }
}
