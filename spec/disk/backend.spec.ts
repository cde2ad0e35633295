// The DiskBackend interface virtio-blk will use: probing, async I/O, range
// checks, read-only handles, on raw and qcow2 alike; and the size parser.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDisk, probeFormat } from '../../src/disk/open.js';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { Qcow2Image } from '../../src/disk/qcow2/image.js';
import { deflateCluster } from '../../src/disk/qcow2/compressed.js';
import { makeTempDir, qemuCheck, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';

describe('disk backend interface', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  for (const format of ['raw', 'qcow2'] as const) {
    it(`reads, writes, zeroes, discards, flushes and closes a ${format} disk`, async () => {
      const file = path.join(dir, `d.${format}`);
      if (format === 'raw') fs.writeFileSync(file, Buffer.alloc(1 << 20));
      else createQcow2(file, { size: 1 << 20, clusterBits: 12 });
      expect(probeFormat(file)).to.equal(format);
      const disk = await openDisk(file, { readOnly: false });
      expect(disk.format).to.equal(format);
      expect(disk.size).to.equal(1 << 20);
      await disk.write(1000, Buffer.alloc(10000, 7));
      await disk.writeZeroes(3000, 2000);
      await disk.discard(0, 4096);
      await disk.flush();
      const buf = Buffer.alloc(12000);
      await disk.read(0, buf);
      const expected = Buffer.alloc(12000);
      expected.fill(7, 1000, 11000).fill(0, 3000, 5000);
      // discard is advisory; here both give the range up: raw punches a hole in its file, qcow2 drops the whole first cluster
      expected.fill(0, 0, 4096);
      expect(buf.equals(expected)).to.equal(true);
      let err: unknown;
      try {
        await disk.read((1 << 20) - 10, Buffer.alloc(20));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(RangeError);
      await disk.close();
      const ro = await openDisk(file, { readOnly: true });
      let roErr: unknown;
      try {
        await ro.write(0, Buffer.alloc(1));
      } catch (e) {
        roErr = e;
      }
      expect((roErr as Error).message).to.match(/read-only/);
      await ro.close();
      if (format === 'qcow2') expect(qemuCheck(file)).to.equal(0);
    });
  }

  it('packs compressed clusters without overflowing narrow refcounts', async () => {
    const file = path.join(dir, 'c.qcow2');
    createQcow2(file, { size: 1 << 20, clusterBits: 12, refcountOrder: 1 }); // 2-bit refcounts: at most 3 per host cluster
    const img = Qcow2Image.open(file, { readOnly: false });
    const data = Buffer.alloc(4096, 0x61);
    const deflated = (await deflateCluster(data))!;
    for (let ci = 0; ci < 40; ci++) img.writeCompressedSync(ci, deflated);
    img.closeSync();
    expect(qemuCheck(file)).to.equal(0);
    expect(
      qemuRaw(file)
        .subarray(0, 40 * 4096)
        .equals(Buffer.alloc(40 * 4096, 0x61)),
    ).to.equal(true);
  });
});
