// Image files in use: the byte-range locks QEMU takes on every image it
// opens, taken the same way by mvm's VMs, so that two VMs never write one
// image, no VM writes an image another uses as a backing file, and mvm, QEMU
// and qemu-img see each other's images in use (qemu-img info refuses an image
// a running mvm VM writes, and mvm refuses one a QEMU VM writes).
//
// The protocol (as QEMU 7.2 lays it out, checked in /proc/locks): every lock
// is a shared lock of one byte, owned by the open file. Byte 100 + p says "I
// use permission p", byte 200 + p "I let no one else have p", for p = 0
// consistent read, 1 write, 3 resize. A writer holds 100, 101, 103 and refuses
// to share write and resize (201, 203); a reader (read-only disk, backing file)
// holds 100 and also refuses to share write and resize. Whoever opens checks,
// after taking its own locks, that no one refuses what it uses and no one uses
// what it refuses: of two opens racing, both see each other and both give up,
// never neither.
import * as fs from 'node:fs';
import type { SyncDisk } from './backend.js';
import { ImageError } from './errors.js';
import { loadNativeFileOps, nativeFileOps, type NativeFileOps } from './native-file-ops.js';
import { chainDisks, fileDescriptorOf } from './open.js';

const USES = 100;
const REFUSES = 200;
const CONSISTENT_READ = 0;
const WRITE = 1;
const RESIZE = 3;
/** Every byte either side of the protocol may lock. */
const PROTOCOL_BYTES = REFUSES + RESIZE + 1 - USES;

const VERBS: Record<number, string> = { [CONSISTENT_READ]: 'read', [WRITE]: 'write', [RESIZE]: 'resize' };

function inUse(path: string, detail: string): ImageError {
  return new ImageError(path, `in use by another process that ${detail} (a running VM, QEMU or an image command)`);
}

/** Takes the locks of a writer (`writable`) or a reader on one open image file, or throws if another process conflicts. */
export function lockImageFile(ops: NativeFileOps, fd: number, path: string, writable: boolean): void {
  const uses = writable ? [CONSISTENT_READ, WRITE, RESIZE] : [CONSISTENT_READ];
  const refuses = [WRITE, RESIZE];
  for (const byte of [...uses.map((p) => USES + p), ...refuses.map((p) => REFUSES + p)]) {
    const r = ops.lockShared(fd, byte, 1);
    if (r === 'conflict') throw inUse(path, 'holds it locked');
    // A file system without record locks (some network or shared folders): used unlocked, as QEMU does.
    if (r === 'unsupported') return;
  }
  for (const p of uses) if (ops.lockedByOthers(fd, REFUSES + p, 1)) throw inUse(path, `does not let others ${VERBS[p]} it`);
  for (const p of refuses) if (ops.lockedByOthers(fd, USES + p, 1)) throw inUse(path, `may ${VERBS[p]} it`);
}

/**
 * Locks a VM's disk and its backing chain for as long as they stay open: the
 * disk as a writer unless it is read-only, every backing file as a reader.
 * Closing the files releases the locks. Without the FFI nothing is locked.
 */
export function lockVmDisk(disk: SyncDisk): void {
  const ops = nativeFileOps();
  if (!ops) return;
  chainDisks(disk).forEach((layer, depth) => {
    const fd = fileDescriptorOf(layer);
    if (fd !== undefined) lockImageFile(ops, fd, layer.path, depth === 0 && !layer.readOnly);
  });
}

/**
 * For image commands about to change an image (commit, rebase, snapshot,
 * repair): refuses when another process has it open in any way, as qemu-img
 * does. Checked before the image is opened for writing (opening a dirty image
 * writable repairs it). Takes no locks itself; the command is short.
 */
export async function refuseIfInUse(path: string): Promise<void> {
  const ops = await loadNativeFileOps();
  if (!ops) return;
  const fd = fs.openSync(path, 'r');
  try {
    if (ops.lockedByOthers(fd, USES, PROTOCOL_BYTES)) throw inUse(path, 'has it open');
  } finally {
    fs.closeSync(fd);
  }
}
