import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmDrives } from '../../../src/devices/virtio/block/drives.js';

const SECTOR = 512;

describe('virtio-blk drives', () => {
  let dir: string;
  let savedRunDir: string | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-drives-'));
    savedRunDir = process.env['MVM_RUN_DIR'];
    process.env['MVM_RUN_DIR'] = join(dir, 'run');
  });
  afterEach(() => {
    if (savedRunDir === undefined) delete process.env['MVM_RUN_DIR'];
    else process.env['MVM_RUN_DIR'] = savedRunDir;
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives an overlay drive a qcow2 overlay in the runtime directory; writes land there, the base is untouched, close deletes it', () => {
    const base = join(dir, 'base.raw');
    writeFileSync(base, Buffer.alloc(64 * SECTOR, 0x42));
    const before = createHash('sha256').update(readFileSync(base)).digest('hex');
    const drives = VmDrives.open([{ path: base, mode: 'overlay' }]);
    const runDir = join(dir, 'run');
    const scratch = readdirSync(runDir).filter((n) => n.startsWith('vm-disks-'));
    expect(scratch).to.have.length(1);
    expect(readdirSync(join(runDir, scratch[0]!))).to.deep.equal(['vda.qcow2']);
    const device = drives.devices[0]!;
    expect(device.name).to.equal('virtio-blk (mvm-vda)');
    // Through the backend the device uses: the base shows through, writes stay in the overlay.
    const disk = (device as unknown as { disk: { readSync(o: number, b: Uint8Array): void; writeSync(o: number, d: Uint8Array): void } }).disk;
    const sector = new Uint8Array(SECTOR);
    disk.readSync(0, sector);
    expect(sector[0]).to.equal(0x42);
    disk.writeSync(0, new Uint8Array(SECTOR).fill(7));
    disk.readSync(0, sector);
    expect(sector[0]).to.equal(7);
    expect(drives.closeSync()).to.deep.equal([]);
    expect(existsSync(join(runDir, scratch[0]!))).to.equal(false);
    expect(createHash('sha256').update(readFileSync(base)).digest('hex')).to.equal(before);
  });

  it('opens persistent drives read-write and ro drives read-only, naming them vda, vdb…', () => {
    const a = join(dir, 'a.raw');
    const b = join(dir, 'b.raw');
    writeFileSync(a, Buffer.alloc(8 * SECTOR));
    writeFileSync(b, Buffer.alloc(8 * SECTOR));
    const drives = VmDrives.open([
      { path: a, mode: 'persistent' },
      { path: b, mode: 'ro' },
    ]);
    try {
      expect(drives.devices.map((d) => d.name)).to.deep.equal(['virtio-blk (mvm-vda)', 'virtio-blk (mvm-vdb)']);
      expect(drives.devices[0]!.features & (1n << 5n)).to.equal(0n);
      expect(drives.devices[1]!.features & (1n << 5n)).to.equal(1n << 5n);
      expect(existsSync(join(dir, 'run'))).to.equal(false);
    } finally {
      drives.closeSync();
    }
  });
});
