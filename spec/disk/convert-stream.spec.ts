// The streaming convert (copy-pipeline.ts + Qcow2StreamWriter): every output
// passes `qemu-img check` and reads the same as the source through qemu-img,
// whichever read path the source takes (direct reads of plain data, the
// image's own path for backing files, compressed and zero clusters).
import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertImage } from '../../src/disk/convert.js';
import { copyNonZero } from '../../src/disk/copy-pipeline.js';
import { openSync } from '../../src/disk/open.js';
import { Qcow2StreamWriter } from '../../src/disk/qcow2/stream-writer.js';
import { makeTempDir, qemuCheck, qemuImg, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';

describe('convert: streamed output (oracle: qemu-img)', function () {
  this.timeout(60_000);
  let dir: string;
  const p = (name: string): string => path.join(dir, name);
  beforeEach(() => {
    dir = makeTempDir();
  });
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
    qemuIo(p('src.qcow2'), [
      'write -P 0x11 0 4096',
      'write -P 0x22 12288 20000',
      'write -z 65536 65536',
      'write -P 0x33 3145728 1536',
      'write -P 0x44 1048576 1048576',
    ]);
    await roundTrip(p('src.qcow2'));
    await roundTrip(p('src.qcow2'), 9);
    await roundTrip(p('src.qcow2'), 21);
  });

  it('leaves out units of stored data that are all zero, and keeps a unit whose only non-zero byte is its last or its first', async () => {
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', p('src.qcow2'), '1M');
    // qemu-io stores these zeros as data (no zero detection on writes by default).
    qemuIo(p('src.qcow2'), ['write -P 0 0 262144', 'write -P 0x55 69631 1', 'write -P 0x66 131072 1']);
    await roundTrip(p('src.qcow2'), 12);
    const data = (file: string, fmt: string) =>
      (JSON.parse(qemuImg('map', '--output=json', '-f', fmt, file)) as Array<{ start: number; length: number; data: boolean }>)
        .filter((e) => e.data)
        .map((e) => [e.start, e.length]);
    expect(data(p('out.qcow2'), 'qcow2')).to.deep.equal([
      [65536, 4096],
      [131072, 4096],
    ]);
    expect(data(p('out.raw'), 'raw')).to.deep.equal([
      [65536, 4096],
      [131072, 4096],
    ]);
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

  it('reads a qcow2 source whose clusters lie in its file out of guest order, and a raw source whose extents are not aligned to units', async () => {
    qemuImg('create', '-f', 'qcow2', p('rev.qcow2'), '4M');
    // Written last to first, so host order is the reverse of guest order and every window ends after one cluster run.
    const writes = [];
    for (let c = 15; c >= 0; c--) if (c % 5 !== 2) writes.push(`write -P ${0x10 + c} ${c * 65536} 65536`);
    qemuIo(p('rev.qcow2'), writes);
    await roundTrip(p('rev.qcow2'));
    await roundTrip(p('rev.qcow2'), 9);
    await roundTrip(p('rev.qcow2'), 21);

    const fd = fs.openSync(p('odd.raw'), 'w');
    fs.ftruncateSync(fd, 8 * 1024 * 1024 + 1024); // a whole number of sectors (qemu-img rounds up), not of units
    for (const [at, fill] of [
      [12288, 1],
      [69632, 2],
      [131072 - 4096, 3],
      [1048576 + 4096, 4],
      [8 * 1024 * 1024 - 4096, 5],
    ]) {
      fs.writeSync(fd, Buffer.alloc(4096, fill!), 0, 4096, at!);
    }
    fs.closeSync(fd);
    await roundTrip(p('odd.raw'));
    await roundTrip(p('odd.raw'), 12);
  });

  it('reads a qcow2 image whose data clusters follow one another in its file with one call per 4 MiB, however scattered they are in the guest', async () => {
    // 64 MiB, about every other 64 KiB cluster written: ~500 separate runs of data.
    const raw = Buffer.alloc(64 * 1024 * 1024);
    let state = 7;
    for (let c = 0; c < raw.length / 65536; c++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      if (state & 0x10000) raw.fill(1 + (c % 250), c * 65536, (c + 1) * 65536);
    }
    fs.writeFileSync(p('scattered.raw'), raw);
    qemuImg('convert', '-O', 'qcow2', p('scattered.raw'), p('scattered.qcow2'));
    const runs = (JSON.parse(qemuImg('map', '--output=json', p('scattered.qcow2'))) as Array<{ data: boolean }>).filter((e) => e.data).length;
    expect(runs).to.be.above(200);
    const input = openSync(p('scattered.qcow2'), { readOnly: true });
    try {
      const rawFd = fs.openSync(p('out.raw'), 'w');
      fs.ftruncateSync(rawFd, input.size);
      const toRaw = await copyNonZero(input, { fd: rawFd, unit: 4096, place: (guest) => guest });
      fs.closeSync(rawFd);
      const writer = Qcow2StreamWriter.create(p('out.qcow2'), { size: input.size });
      const toQcow2 = await copyNonZero(input, { fd: writer.fileDescriptor, unit: writer.clusterSize, place: (g, n) => writer.place(g, n) });
      writer.finishSync();
      writer.closeSync();
      // 16 windows of 4 MiB; one read per run of data would be > 200.
      expect(toRaw.readCalls).to.equal(16);
      expect(toQcow2.readCalls).to.equal(16);
      // Raw output puts every run at its own guest offset; qcow2 output packs a window's runs into one pwritev.
      expect(toRaw.writeCalls).to.be.within(runs, runs + 15); // a run crossing a window edge is two writes
      expect(toQcow2.writeCalls).to.equal(16);
    } finally {
      input.closeSync();
    }
    for (const outFormat of ['raw', 'qcow2']) {
      expect(qemuImg('compare', '-f', 'raw', '-F', outFormat, p('scattered.raw'), p(`out.${outFormat}`))).to.match(/identical/);
    }
    expect(qemuCheck(p('out.qcow2'))).to.equal(0);
  });

  it('-c: deflates clusters several at once but lays them out in guest order, the same file every run; incompressible clusters stay plain', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    const cluster = 65536;
    for (let i = 0; i < data.length / cluster; i++) {
      if (i % 3 === 0) randomFillSync(data, i * cluster, cluster);
      else if (i % 3 === 1) data.fill(i, i * cluster, (i + 1) * cluster);
    }
    fs.writeFileSync(p('mix.raw'), data);
    await convertImage(p('mix.raw'), p('c1.qcow2'), { outFormat: 'qcow2', compress: true });
    await convertImage(p('mix.raw'), p('c2.qcow2'), { outFormat: 'qcow2', compress: true });
    expect(fs.readFileSync(p('c1.qcow2')).equals(fs.readFileSync(p('c2.qcow2')))).to.equal(true);
    expect(qemuCheck(p('c1.qcow2'))).to.equal(0);
    expect(qemuRaw(p('c1.qcow2')).equals(data)).to.equal(true);
    // qemu-img map gives plain data an offset and compressed data none.
    const extents = JSON.parse(qemuImg('map', '--output=json', p('c1.qcow2'))) as Array<{ start: number; data: boolean; offset?: number }>;
    for (const e of extents.filter((x) => x.data)) {
      const i = e.start / cluster;
      expect(i % 3, `cluster ${i}`).to.not.equal(2);
      expect(e.offset !== undefined, `cluster ${i} stored plain`).to.equal(i % 3 === 0);
    }
    // Plain clusters in guest order, one after another: the order writes were made in.
    const plain = extents.filter((x) => x.offset !== undefined).map((x) => x.offset!);
    expect(plain).to.deep.equal([...plain].sort((a, b) => a - b));
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
