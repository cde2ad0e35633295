// A snapshot's disk layers: a writable drive's top image is flushed and copied
// into the snapshot as a read-only file that keeps reading as the drive did at
// that moment, however the VM writes on afterwards; a backing file named
// relative to the image (which would resolve elsewhere from the snapshot) is
// refused without leaving a layer behind.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSync } from '../../src/disk/open.js';
import { createOverlay } from '../../src/disk/overlay.js';
import { createQcow2, createRaw } from '../../src/disk/qcow2/create.js';
import { SnapshotError } from '../../src/snapshot/snapshot-error.js';
import { freezeDisks } from '../../src/vmm/freeze-disks.js';

const MiB = 1 << 20;
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const bytes = (fill: number, length = 4096): Uint8Array => new Uint8Array(length).fill(fill);

describe("freezing a snapshot's disks", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mvm-freeze-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('copies the overlay as a read-only layer on the same base; later writes to the drive leave it as it was', () => {
    const base = join(root, 'base.raw');
    createRaw(base, 4 * MiB);
    const baseDisk = openSync(base, { readOnly: false });
    baseDisk.writeSync(0, bytes(0xbb));
    baseDisk.closeSync();
    const overlay = join(root, 'overlay.qcow2');
    createOverlay(overlay, base);
    const disk = openSync(overlay, { readOnly: false });
    const snap = join(root, 'snap');
    mkdirSync(snap);
    try {
      disk.writeSync(MiB, bytes(0x11)); // not flushed yet: the freeze must flush it
      freezeDisks([{ disk, readOnly: false }], snap);
      const layer = join(snap, 'disk-0.qcow2');
      expect(statSync(layer).mode & 0o777).to.equal(0o444);
      const frozen = sha256(layer);
      disk.writeSync(MiB, bytes(0x22));
      disk.writeSync(2 * MiB, bytes(0x33));
      disk.flushSync();
      expect(sha256(layer)).to.equal(frozen);
      const copy = openSync(layer, { readOnly: true });
      try {
        const read = (offset: number): number => {
          const b = new Uint8Array(4096);
          copy.readSync(offset, b);
          return b[0]! | (b[4095]! << 8);
        };
        expect([read(0), read(MiB), read(2 * MiB)]).to.deep.equal([0xbbbb, 0x1111, 0]);
      } finally {
        copy.closeSync();
      }
    } finally {
      disk.closeSync();
    }
  });

  it('leaves read-only drives where they are', () => {
    const image = join(root, 'ro.raw');
    createRaw(image, MiB);
    const disk = openSync(image, { readOnly: true });
    try {
      freezeDisks([{ disk, readOnly: true }], root);
      expect(existsSync(join(root, 'disk-0.raw'))).to.equal(false);
    } finally {
      disk.closeSync();
    }
  });

  it('refuses an image whose backing file is named relative to it, and removes the half-made layer', () => {
    const images = join(root, 'images');
    mkdirSync(images);
    createRaw(join(images, 'base.raw'), MiB);
    const overlay = join(images, 'top.qcow2');
    createQcow2(overlay, { size: MiB, backing: { name: 'base.raw', format: 'raw' } });
    const disk = openSync(overlay, { readOnly: false });
    const snap = join(root, 'snap');
    mkdirSync(snap);
    try {
      expect(() => freezeDisks([{ disk, readOnly: false }], snap)).to.throw(SnapshotError, /relative to itself/);
      expect(existsSync(join(snap, 'disk-0.qcow2'))).to.equal(false);
    } finally {
      disk.closeSync();
    }
  });
});
