// Opening a disk by probing its format: qcow2 by its magic, anything else raw.
import * as fs from 'node:fs';
import type { DiskBackend, DiskFormat, SyncDisk } from './backend.js';
import { asBackend } from './backend.js';
import type { ChainGuard } from './backing-name.js';
import { ImageError } from './errors.js';
import { QCOW2_MAGIC } from './qcow2/constants.js';
import { Qcow2Image } from './qcow2/image.js';
import { RawDisk } from './raw.js';
import { loadNativeFileOps } from './native-file-ops.js';

export interface OpenOptions {
  readOnly: boolean;
  /** Skip probing: the caller knows (e.g. a recorded backing format). */
  format?: DiskFormat;
  l2CacheTables?: number;
}

/** Reads the first bytes of a file and names its format. */
export function probeFormat(path: string): DiskFormat {
  const fd = fs.openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    return n === 4 && head.readUInt32BE(0) === QCOW2_MAGIC ? 'qcow2' : 'raw';
  } finally {
    fs.closeSync(fd);
  }
}

export function openSync(path: string, opts: OpenOptions): SyncDisk {
  const format = opts.format ?? probeFormat(path);
  return format === 'qcow2'
    ? Qcow2Image.open(path, { readOnly: opts.readOnly, l2CacheTables: opts.l2CacheTables })
    : RawDisk.open(path, opts.readOnly);
}

/** The backend virtio-blk uses; a raw disk's discards punch holes in its file. */
export async function openDisk(path: string, opts: OpenOptions): Promise<DiskBackend> {
  const disk = openSync(path, opts);
  if (disk instanceof RawDisk && !disk.readOnly) await loadNativeFileOps();
  return asBackend(disk);
}

/** Parses a format name given by a user or recorded in an image. */
export function parseFormat(name: string, where: string): DiskFormat {
  if (name === 'raw' || name === 'qcow2') return name;
  throw new ImageError(where, `unsupported image format "${name}" (mvm knows raw and qcow2)`);
}

/** Opens one image of a backing chain read-only, continuing the loop check. */
export function openChainMember(path: string, format: string | undefined, chain: ChainGuard, from: string): SyncDisk {
  if (!fs.existsSync(path)) throw new ImageError(from, `backing file ${path} does not exist`);
  const fmt = format !== undefined ? parseFormat(format, from) : probeFormat(path);
  if (fmt === 'qcow2') return Qcow2Image.open(path, { readOnly: true, chain });
  const raw = RawDisk.open(path, true);
  // Raw images end the chain, but a raw file that is the overlay itself is still a loop.
  try {
    chain.enter(path, raw.fileDescriptor, from);
  } catch (err) {
    raw.closeSync();
    throw err;
  }
  return raw;
}

/** A disk and its backing chain, top first. */
export function chainDisks(disk: SyncDisk): SyncDisk[] {
  const out: SyncDisk[] = [];
  for (let d: SyncDisk | undefined = disk; d; d = d instanceof Qcow2Image ? d.backing : undefined) out.push(d);
  return out;
}

/** Every file a disk reads from: itself, then its backing chain. */
export function chainFiles(disk: SyncDisk): string[] {
  return chainDisks(disk).map((d) => d.path);
}

/** Refuses to create or overwrite `target` when it is one of the files `disk` reads from. */
export function refuseOverwritingChain(target: string, disk: SyncDisk): void {
  if (!fs.existsSync(target)) return;
  const real = fs.realpathSync(target);
  for (const file of chainFiles(disk)) {
    if (fs.realpathSync(file) === real) throw new ImageError(target, `would overwrite ${file}, which the image reads from`);
  }
}

/** The open file behind a raw or qcow2 disk (undefined for other kinds). */
export function fileDescriptorOf(disk: SyncDisk): number | undefined {
  if (disk instanceof Qcow2Image) return disk.file.fd;
  if (disk instanceof RawDisk) return disk.fileDescriptor;
  return undefined;
}
