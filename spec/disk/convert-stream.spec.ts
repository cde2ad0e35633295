// The streaming convert (copy-pipeline.ts + Qcow2StreamWriter): every output
// passes `qemu-img check` and reads the same as the source through qemu-img,
// whichever read path the source takes (direct reads of plain data, the
// image's own path for backing files, compressed and zero clusters).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertImage } from '../../src/disk/convert.js';
import { Qcow2StreamWriter } from '../../src/disk/qcow2/stream-writer.js';
import { makeTempDir, qemuCheck, qemuImg, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';

describe('convert: streamed output (oracle: qemu-img)', function () {
  this.timeout(60_000);
  let dir: string;
  const p = (name: string): string => path.join(dir, name);
  beforeEach(() => { dir = makeTempDir(); });
  afterEach(() => removeDir(dir));

  /** Converts to both formats and checks each output against the source. */
  async function roundTrip(src: string, clusterBits?: number): Promise<void> {
    const expected = qemuRaw(src);
    await convertImage(src, p('out.qcow2'), { outFormat: 'qcow2', clusterBits });
    expect(qemuCheck(p('out.qcow2')), 'qemu-img check of the qcow2 output').to.equal(0);
    expect(qemuRaw(p('out.qcow2')).equals(expected), 'qcow2 output reads as the source').to.equal(true);
    await convertImage(src, p('out.raw'), { outFormat: 'raw' });
    expect(fs.readFileSync(p('out.raw')).equals(expected), 'raw output equals the source').to.equal(true);
  }

  it('copies scattered data, zero clusters and a partial last cluster (size not a multiple of anything)', async () => {
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', p('src.qcow2'), String(3 * 1024 * 1024 + 1536));
    qemuIo(p('src.qcow2'), ['write -P 0x11 0 4096', 'write -P 0x22 12288 20000', 'write -z 65536 65536', 'write -P 0x33 3145728 1536', 'write -P 0x44 1048576 1048576']);
    await roundTrip(p('src.qcow2'));
    await roundTrip(p('src.qcow2'), 9);
    await roundTrip(p('src.qcow2'), 21);
  });

  it('leaves out units of stored data that are all zero, and keeps a unit whose only non-zero byte is its last or its first', async () => {
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', p('src.qcow2'), '1M');
    // qemu-io stores these zeros as data (no zero detection on writes by default).
    qemuIo(p('src.qcow2'), ['write -P 0 0 262144', 'write -P 0x55 69631 1', 'write -P 0x66 131072 1']);
    await roundTrip(p('src.qcow2'), 12);
    const data = (file: string, fmt: string) => (JSON.parse(qemuImg('map', '--output=json', '-f', fmt, file)) as Array<{ start: number; length: number; data: boolean }>)
      .filter((e) => e.data).map((e) => [e.start, e.length]);
    expect(data(p('out.qcow2'), 'qcow2')).to.deep.equal([[65536, 4096], [131072, 4096]]);
    expect(data(p('out.raw'), 'raw')).to.deep.equal([[65536, 4096], [131072, 4096]]);
  });

  it('reads through a backing chain and compressed clusters (the non-direct read path)', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 512) data.fill(i & 0xff, i, i + 256);
    fs.writeFileSync(p('base.raw'), data);
    qemuImg('convert', '-c', '-O', 'qcow2', p('base.raw'), p('base.qcow2'));
    qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('top.qcow2'));
    qemuIo(p('top.qcow2'), ['write -P 0x5a 100000 300000', 'write -z 1048576 65536']);
    await roundTrip(p('top.qcow2'));
  });

  it('writes a valid empty image when the source holds only zeros', async () => {
    fs.writeFileSync(p('zeros.raw'), Buffer.alloc(1024 * 1024));
    await roundTrip(p('zeros.raw'));
    expect(qemuImg('map', '--output=json', p('out.qcow2'))).not.to.match(/"data": true/);
  });

  it('lays out the same file on every run (host clusters handed out in guest order)', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 65536 * 3) data.fill(1 + (i % 251), i, i + 65536);
    fs.writeFileSync(p('src.raw'), data);
    await convertImage(p('src.raw'), p('a.qcow2'), { outFormat: 'qcow2' });
    await convertImage(p('src.raw'), p('b.qcow2'), { outFormat: 'qcow2' });
    expect(fs.readFileSync(p('a.qcow2')).equals(fs.readFileSync(p('b.qcow2')))).to.equal(true);
  });

  it('refuses to place a guest cluster twice or outside the disk, and leaves no image without finishing', () => {
    const w = Qcow2StreamWriter.create(p('w.qcow2'), { size: 1 << 20 });
    try {
      w.place(0, 65536);
      expect(() => w.place(0, 65536)).to.throw(/placed twice/);
      expect(() => w.place(1 << 20, 65536)).to.throw(/cannot place/);
      expect(() => w.place(100, 65536)).to.throw(/cannot place/);
      // Until finishSync the file has no qcow2 header: qemu-img sees a raw file.
      expect(JSON.parse(qemuImg('info', '--output=json', p('w.qcow2'))).format).to.equal('raw');
    } finally {
      w.closeSync();
    }
  });
});
