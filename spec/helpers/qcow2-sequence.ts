// Random write/discard/zero sequences that can be applied both through mvm and
// through qemu-io, so the two results can be compared with `qemu-img compare`.
import type { SyncDisk } from '../../src/disk/backend.js';
import { seededRandom } from './qcow2-oracle.js';

export type DiskOp =
  | { op: 'write'; offset: number; length: number; pattern: number }
  | { op: 'discard'; offset: number; length: number }
  | { op: 'zero'; offset: number; length: number }
  | { op: 'flush' };

export interface SequenceShape {
  size: number;
  count: number;
  maxLength: number;
  /** Per-mille chances; the rest are writes. */
  discards?: number;
  zeroes?: number;
  /** Aligns discards to this many bytes (qemu-io drops unaligned discard heads/tails). */
  align?: number;
}

export function randomSequence(seed: number, shape: SequenceShape): DiskOp[] {
  const rnd = seededRandom(seed);
  const ops: DiskOp[] = [];
  const align = shape.align ?? 1;
  for (let i = 0; i < shape.count; i++) {
    const length = 1 + rnd(Math.min(shape.maxLength, shape.size));
    const offset = rnd(shape.size - length + 1);
    const dice = rnd(1000);
    if (dice < (shape.discards ?? 0)) {
      const start = Math.floor(offset / align) * align;
      const len = Math.max(align, Math.floor(length / align) * align);
      if (start + len <= shape.size) ops.push({ op: 'discard', offset: start, length: len });
    } else if (dice < (shape.discards ?? 0) + (shape.zeroes ?? 0)) {
      ops.push({ op: 'zero', offset, length });
    } else {
      ops.push({ op: 'write', offset, length, pattern: 1 + rnd(254) });
    }
    if (rnd(16) === 0) ops.push({ op: 'flush' });
  }
  return ops;
}

export function applyWithMvm(disk: SyncDisk, ops: DiskOp[]): void {
  for (const o of ops) {
    switch (o.op) {
      case 'write':
        disk.writeSync(o.offset, Buffer.alloc(o.length, o.pattern));
        break;
      case 'discard':
        disk.discardSync(o.offset, o.length);
        break;
      case 'zero':
        disk.writeZeroesSync(o.offset, o.length);
        break;
      case 'flush':
        disk.flushSync();
        break;
    }
  }
}

export function asQemuIoCommands(ops: DiskOp[]): string[] {
  return ops.map((o) => {
    switch (o.op) {
      case 'write':
        return `write -P ${o.pattern} ${o.offset} ${o.length}`;
      case 'discard':
        return `discard ${o.offset} ${o.length}`;
      case 'zero':
        return `write -z ${o.offset} ${o.length}`;
      case 'flush':
        return 'flush';
      default:
        throw new Error(`unknown disk operation ${JSON.stringify(o satisfies never)}`);
    }
  });
}
