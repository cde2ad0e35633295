// Raw files' holes: seen by map and convert without reading them, made by a
// guest's discard. qemu-img is the judge of what the holes are.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertImage } from '../../src/disk/convert.js';
import { openDisk } from '../../src/disk/open.js';
import { RawDisk } from '../../src/disk/raw.js';
import { loadNativeFileOps } from '../../src/disk/native-file-ops.js';
import { runMvmSync } from '../helpers/mvm-cli.js';
import { makeTempDir, qemuImg, removeDir } from '../helpers/qcow2-oracle.js';

const MiB = 1 << 20;

/** Bytes this process has read through read(2)-like calls so far (all threads, the thread pool's too). */
function bytesReadByThisProcess(): number {
  const line = fs
    .readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('rchar:'));
  return Number(line!.split(/\s+/)[1]);
}

/** A sparse raw file of `size` bytes holding `pattern` bytes at each of `at`. */
function sparseRaw(file: string, size: number, at: number[], length: number): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) data.writeUInt32LE((i * 2654435761 + 1) >>> 0, i);
  for (const off of at) fs.writeSync(fd, data, 0, length, off);
  fs.closeSync(fd);
}

describe('raw images with holes', function () {
  this.timeout(60_000);
  let dir: string;
  const p = (name: string) => path.join(dir, name);
  before(async () => {
    expect(await loadNativeFileOps(), 'the FFI for lseek/fallocate loads').to.not.equal(undefined);
  });
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('extentAt walks data and holes the way SEEK_DATA/SEEK_HOLE see them', () => {
    sparseRaw(p('a.raw'), 16 * MiB, [4 * MiB], 2 * MiB);
    const disk = RawDisk.open(p('a.raw'), true);
    try {
      expect(disk.extentAt(0)).to.deep.equal({ data: false, length: 4 * MiB });
      expect(disk.extentAt(4 * MiB)).to.deep.equal({ data: true, length: 2 * MiB });
      expect(disk.extentAt(5 * MiB)).to.deep.equal({ data: true, length: MiB });
      expect(disk.extentAt(6 * MiB)).to.deep.equal({ data: false, length: 10 * MiB });
      expect(disk.extentAt(16 * MiB)).to.deep.equal({ data: true, length: 0 });
    } finally {
      disk.closeSync();
    }
  });

  it('map --output=json of a sparse raw file is what qemu-img map prints', () => {
    sparseRaw(p('a.raw'), 64 * MiB, [0, 8 * MiB, 60 * MiB], MiB);
    const ours = runMvmSync(['image', 'map', '--output=json', p('a.raw')]);
    expect(ours.status, ours.stderr).to.equal(0);
    expect(ours.stdout).to.equal(qemuImg('map', '--output=json', '-f', 'raw', p('a.raw')));
    expect(JSON.parse(ours.stdout).filter((e: { data: boolean }) => e.data)).to.have.length(3);
  });

  for (const outFormat of ['qcow2', 'raw'] as const) {
    it(`convert to ${outFormat} reads only the data of a 4 GiB raw file holding 3 MiB, and copies it exactly`, async () => {
      sparseRaw(p('big.raw'), 4096 * MiB, [MiB, 2000 * MiB, 4095 * MiB], MiB);
      const before = bytesReadByThisProcess();
      await convertImage(p('big.raw'), p(`out.${outFormat}`), { outFormat, inFormat: 'raw' });
      const read = bytesReadByThisProcess() - before;
      // The data (3 MiB) and a little metadata; reading the holes would be 4 GiB.
      expect(read).to.be.below(16 * MiB);
      expect(qemuImg('compare', '-f', 'raw', '-F', outFormat, p('big.raw'), p(`out.${outFormat}`))).to.match(/identical/);
      expect(fs.statSync(p(`out.${outFormat}`)).blocks * 512).to.be.below(8 * MiB);
    });
  }

  it('a discard on a writable raw disk punches a hole: the space returns and the range reads as zeros', async () => {
    sparseRaw(p('d.raw'), 8 * MiB, [0], 8 * MiB);
    const allocatedBefore = fs.statSync(p('d.raw')).blocks * 512;
    const disk = await openDisk(p('d.raw'), { readOnly: false });
    try {
      await disk.discard(2 * MiB, 4 * MiB);
      const back = Buffer.alloc(6 * MiB);
      await disk.read(MiB, back);
      expect(
        back.subarray(0, MiB).some((b) => b !== 0),
        'data before the hole kept',
      ).to.equal(true);
      expect(
        back.subarray(MiB, 5 * MiB).every((b) => b === 0),
        'the hole reads as zeros',
      ).to.equal(true);
      expect(
        back.subarray(5 * MiB).some((b) => b !== 0),
        'data after the hole kept',
      ).to.equal(true);
    } finally {
      await disk.close();
    }
    expect(fs.statSync(p('d.raw')).size).to.equal(8 * MiB);
    expect(allocatedBefore - fs.statSync(p('d.raw')).blocks * 512).to.equal(4 * MiB);
  });

  it('a discard on a read-only raw disk changes nothing', async () => {
    sparseRaw(p('r.raw'), 4 * MiB, [0], 4 * MiB);
    const before = fs.readFileSync(p('r.raw'));
    const disk = await openDisk(p('r.raw'), { readOnly: true });
    await disk.discard(0, 4 * MiB);
    await disk.close();
    expect(fs.readFileSync(p('r.raw')).equals(before)).to.equal(true);
  });
});
