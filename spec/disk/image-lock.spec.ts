// Images in use: mvm takes QEMU's byte-range locks, so qemu-img and qemu-io
// (the oracle) see mvm's VMs' disks in use, and mvm sees theirs.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmDrives } from '../../src/devices/virtio/block/drives.js';
import type { SyncDisk } from '../../src/disk/backend.js';
import { ImageError } from '../../src/disk/errors.js';
import { lockVmDisk } from '../../src/disk/image-lock.js';
import { loadNativeFileOps } from '../../src/disk/native-file-ops.js';
import { openSync } from '../../src/disk/open.js';
import { runMvmSync } from '../helpers/mvm-cli.js';
import { makeTempDir, qemuImg, qemuImgStatus, removeDir } from '../helpers/qcow2-oracle.js';

/** Opens a disk the way a VM's drive does: open, then lock the chain. */
function openLocked(file: string, readOnly: boolean): SyncDisk {
  const disk = openSync(file, { readOnly });
  try {
    lockVmDisk(disk);
  } catch (err) {
    disk.closeSync();
    throw err;
  }
  return disk;
}

function lockError(fn: () => unknown): string {
  try {
    const d = fn() as SyncDisk | undefined;
    d?.closeSync();
  } catch (err) {
    expect(err).to.be.instanceOf(ImageError);
    return (err as Error).message;
  }
  throw new Error('expected the open to be refused');
}

/** Byte ranges locked on `file` per /proc/locks, as "start-end" strings. */
function lockedRanges(file: string): string[] {
  const ino = fs.statSync(file).ino;
  return fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[5]?.endsWith(`:${ino}`))
    .map((f) => `${f[6]}-${f[7]}`)
    .sort();
}

describe('image locks (oracle: qemu-img, qemu-io)', function () {
  this.timeout(30_000);
  let dir: string;
  let qemuIo: ChildProcess | undefined;
  const p = (name: string) => path.join(dir, name);
  before(async () => {
    expect(await loadNativeFileOps(), 'the FFI for fcntl loads').to.not.equal(undefined);
  });
  beforeEach(() => {
    dir = makeTempDir();
    qemuImg('create', '-f', 'qcow2', p('base.qcow2'), '16M');
    qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('a.qcow2'));
    qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('b.qcow2'));
  });
  afterEach(() => {
    qemuIo?.kill('SIGKILL');
    qemuIo = undefined;
    removeDir(dir);
  });

  /** Starts qemu-io holding `file` open (read-only with -r) until killed; resolves once its locks are visible. */
  async function qemuHolds(file: string, readOnly: boolean): Promise<void> {
    qemuIo = spawn('qemu-io', [...(readOnly ? ['-r'] : []), '-c', 'sleep 60000', file], { stdio: 'ignore' });
    for (let i = 0; i < 100 && lockedRanges(file).length === 0; i++) await sleep(50);
    expect(lockedRanges(file), 'qemu-io has locked the image').to.not.deep.equal([]);
  }

  it('takes the bytes QEMU takes: a writer 100, 101, 103, 201, 203; its backing file 100, 201, 203 (as /proc/locks shows them for qemu-io)', async () => {
    await qemuHolds(p('a.qcow2'), false);
    const qemuWriter = lockedRanges(p('a.qcow2'));
    const qemuBacking = lockedRanges(p('base.qcow2'));
    qemuIo!.kill('SIGKILL');
    for (let i = 0; i < 100 && lockedRanges(p('a.qcow2')).length > 0; i++) await sleep(50);
    const disk = openLocked(p('a.qcow2'), false);
    try {
      expect(lockedRanges(p('a.qcow2'))).to.deep.equal(['100-101', '103-103', '201-201', '203-203']); // the kernel merges 100 and 101
      expect(lockedRanges(p('base.qcow2'))).to.deep.equal(['100-100', '201-201', '203-203']);
      expect(lockedRanges(p('a.qcow2'))).to.deep.equal(qemuWriter);
      expect(lockedRanges(p('base.qcow2'))).to.deep.equal(qemuBacking);
    } finally {
      disk.closeSync();
    }
    expect(lockedRanges(p('a.qcow2')), 'closing releases them').to.deep.equal([]);
  });

  it('qemu-img refuses a disk an mvm VM writes, reads its shared backing file, and reads both again once it is closed', () => {
    const disk = openLocked(p('a.qcow2'), false);
    try {
      const info = qemuImgStatus('info', p('a.qcow2'));
      expect(info.status).to.not.equal(0);
      expect(info.out).to.match(/Failed to get shared "write" lock/);
      expect(qemuImgStatus('info', '-U', p('a.qcow2')).status).to.equal(0);
      expect(qemuImgStatus('info', p('base.qcow2')).status, 'reading the backing file is fine').to.equal(0);
      const write = spawnSync('qemu-io', ['-c', 'write 0 4096', p('base.qcow2')], { encoding: 'utf8' });
      expect(write.stdout + write.stderr, 'writing the backing file is not').to.match(/Failed to get "write" lock/);
    } finally {
      disk.closeSync();
    }
    expect(qemuImgStatus('info', p('a.qcow2')).status).to.equal(0);
  });

  it('two VMs may share a backing file, but not write one disk, and no VM writes a disk another reads', () => {
    const a = openLocked(p('a.qcow2'), false);
    const b = openLocked(p('b.qcow2'), false);
    try {
      expect(lockError(() => openLocked(p('a.qcow2'), false))).to.match(/a\.qcow2: in use by another process that does not let others write it/);
      expect(lockError(() => openLocked(p('a.qcow2'), true))).to.match(/in use by another process that may write it/);
      expect(lockError(() => openLocked(p('base.qcow2'), false))).to.match(
        /base\.qcow2: in use by another process that does not let others write it/,
      );
      openLocked(p('base.qcow2'), true).closeSync();
    } finally {
      a.closeSync();
      b.closeSync();
    }
    openLocked(p('base.qcow2'), false).closeSync();
  });

  it("a VM's drives lock their images: no second VM writes a persistent disk, throw-away overlays of one base run side by side", () => {
    const first = VmDrives.open([{ path: p('a.qcow2'), mode: 'persistent' }]);
    try {
      expect(() => VmDrives.open([{ path: p('a.qcow2'), mode: 'persistent' }])).to.throw(/a\.qcow2: in use by another process/);
      expect(() => VmDrives.open([{ path: p('a.qcow2'), mode: 'overlay' }]), 'nor reads it as a base while it is written').to.throw(/in use/);
      const twoOverlays = VmDrives.open([
        { path: p('base.qcow2'), mode: 'overlay' },
        { path: p('base.qcow2'), mode: 'overlay' },
      ]);
      twoOverlays.closeSync();
      expect(
        () =>
          VmDrives.open([
            { path: p('b.qcow2'), mode: 'persistent' },
            { path: p('b.qcow2'), mode: 'persistent' },
          ]),
        'one disk twice in one VM',
      ).to.throw(/in use/);
    } finally {
      first.closeSync();
    }
    VmDrives.open([{ path: p('a.qcow2'), mode: 'persistent' }]).closeSync();
  });

  it('mvm refuses to use or change an image QEMU writes, and lets it read one QEMU reads', async () => {
    await qemuHolds(p('a.qcow2'), false);
    expect(lockError(() => openLocked(p('a.qcow2'), false))).to.match(/in use by another process/);
    expect(lockError(() => openLocked(p('a.qcow2'), true))).to.match(/in use by another process that may write it/);
    for (const args of [['snapshot', '-c', 's1'], ['commit'], ['check', '-r', 'all']]) {
      const r = runMvmSync(['image', ...args, p('a.qcow2')]);
      expect(r.status, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(/a\.qcow2: in use by another process that has it open/);
      expect(r.stderr.trim().split('\n'), 'one line').to.have.length(1);
    }
    // The same commit goes through once QEMU is gone.
    qemuIo!.kill('SIGKILL');
    for (let i = 0; i < 100 && lockedRanges(p('a.qcow2')).length > 0; i++) await sleep(50);
    const r = runMvmSync(['image', 'commit', p('a.qcow2')]);
    expect(r.status, r.stderr).to.equal(0);

    await qemuHolds(p('base.qcow2'), true);
    openLocked(p('b.qcow2'), false).closeSync();
    expect(lockError(() => openLocked(p('base.qcow2'), false))).to.match(/does not let others write it/);
  });
});
