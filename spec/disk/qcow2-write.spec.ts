// The write path against QEMU: the same random sequence applied by mvm and by
// qemu-io gives identical contents (`qemu-img compare`), and every image mvm
// wrote passes `qemu-img check` with exit 0.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSync } from '../../src/disk/open.js';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { makeTempDir, mvmRaw, qemuCheck, qemuImg, qemuImgStatus, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';
import { applyWithMvm, asQemuIoCommands, randomSequence } from '../helpers/qcow2-sequence.js';

const MiB = 1 << 20;

function writeWithMvm(image: string, ops: ReturnType<typeof randomSequence>): void {
  const disk = openSync(image, { readOnly: false });
  try {
    applyWithMvm(disk, ops);
  } finally {
    disk.closeSync();
  }
}

function expectSameAsQemu(mine: string, theirs: string): void {
  const r = qemuImgStatus('compare', mine, theirs);
  expect(r.out, 'qemu-img compare').to.match(/identical/i);
  expect(r.status).to.equal(0);
}

describe('qcow2 write path (oracle: qemu-io + qemu-img compare/check)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  const shapes: Array<{ version: 2 | 3; clusterBits: number; refcountOrder: number }> = [
    { version: 3, clusterBits: 16, refcountOrder: 4 },
    { version: 3, clusterBits: 9, refcountOrder: 0 },
    { version: 3, clusterBits: 10, refcountOrder: 6 },
    { version: 3, clusterBits: 12, refcountOrder: 3 },
    { version: 3, clusterBits: 21, refcountOrder: 5 },
    { version: 3, clusterBits: 13, refcountOrder: 1 },
    { version: 3, clusterBits: 11, refcountOrder: 2 },
    { version: 2, clusterBits: 12, refcountOrder: 4 },
  ];
  for (const [i, s] of shapes.entries()) {
    it(`random writes/discards/zeroes on a new v${s.version} image, cluster ${2 ** s.clusterBits}, ${1 << s.refcountOrder}-bit refcounts`, () => {
      const size = 4 * MiB + 1536; // not a cluster multiple: the last cluster is partial
      const mine = path.join(dir, 'mine.qcow2'),
        theirs = path.join(dir, 'theirs.qcow2');
      createQcow2(mine, { size, clusterBits: s.clusterBits, refcountOrder: s.refcountOrder, version: s.version });
      expect(qemuCheck(mine)).to.equal(0);
      qemuImg(
        'create',
        '-q',
        '-f',
        'qcow2',
        '-o',
        `compat=${s.version === 2 ? '0.10' : '1.1'},cluster_size=${2 ** s.clusterBits}`,
        theirs,
        String(size),
      );
      const ops = randomSequence(1000 + i, {
        size,
        count: 250,
        maxLength: 3 * 2 ** s.clusterBits + 5000,
        discards: 100,
        zeroes: 100,
        align: 2 ** s.clusterBits,
      });
      writeWithMvm(mine, ops);
      qemuIo(theirs, asQemuIoCommands(ops));
      expect(qemuCheck(mine)).to.equal(0);
      expectSameAsQemu(mine, theirs);
    });
  }

  it('copies partial clusters from a qcow2 backing file (COW head and tail)', () => {
    const base = path.join(dir, 'base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', base, '2M');
    qemuIo(base, ['write -P 0x5a 0 2M', 'write -z 64k 64k']);
    const mine = path.join(dir, 'mine.qcow2'),
      theirs = path.join(dir, 'theirs.qcow2');
    createQcow2(mine, { size: 3 * MiB, clusterBits: 16, backing: { name: 'base.qcow2', format: 'qcow2' } });
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', theirs, '3M');
    const ops = randomSequence(7, { size: 3 * MiB, count: 150, maxLength: 100_000, discards: 80, zeroes: 120, align: 65536 });
    writeWithMvm(mine, ops);
    qemuIo(theirs, asQemuIoCommands(ops));
    expect(qemuCheck(mine)).to.equal(0);
    expectSameAsQemu(mine, theirs);
  });

  it('copies partial clusters from a raw backing file into a v2 overlay', () => {
    const base = path.join(dir, 'base.raw');
    const data = Buffer.alloc(MiB);
    for (let i = 0; i < data.length; i++) data[i] = (i >> 9) & 0xff;
    fs.writeFileSync(base, data);
    const mine = path.join(dir, 'mine.qcow2'),
      theirs = path.join(dir, 'theirs.qcow2');
    createQcow2(mine, { size: MiB, clusterBits: 12, version: 2, backing: { name: 'base.raw', format: 'raw' } });
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', '-b', 'base.raw', '-F', 'raw', theirs);
    const ops = randomSequence(8, { size: MiB, count: 150, maxLength: 9000, discards: 50, zeroes: 150, align: 4096 });
    writeWithMvm(mine, ops);
    qemuIo(theirs, asQemuIoCommands(ops));
    expect(qemuCheck(mine)).to.equal(0);
    expectSameAsQemu(mine, theirs);
  });

  it('treats a write into a compressed cluster as copy-on-write', () => {
    const src = path.join(dir, 'src.raw');
    const data = Buffer.alloc(MiB);
    for (let i = 0; i < data.length; i++) data[i] = i % 97 < 20 ? i & 0xff : 0;
    fs.writeFileSync(src, data);
    const mine = path.join(dir, 'mine.qcow2'),
      theirs = path.join(dir, 'theirs.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', src, mine);
    fs.copyFileSync(mine, theirs);
    const ops = randomSequence(9, { size: MiB, count: 120, maxLength: 6000, discards: 100, zeroes: 100, align: 4096 });
    writeWithMvm(mine, ops);
    qemuIo(theirs, asQemuIoCommands(ops));
    expect(qemuCheck(mine)).to.equal(0);
    expectSameAsQemu(mine, theirs);
  });

  it('writes after an internal snapshot copy L2 tables and data, leaving the snapshot intact', () => {
    const img = path.join(dir, 's.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '1M');
    qemuIo(img, ['write -P 0x01 0 1M']);
    const before = qemuRaw(img);
    qemuImg('snapshot', '-c', 'snap', img);
    const theirs = path.join(dir, 'theirs.qcow2');
    fs.copyFileSync(img, theirs);
    const ops = randomSequence(10, { size: MiB, count: 100, maxLength: 10000, discards: 100, zeroes: 100, align: 4096 });
    writeWithMvm(img, ops);
    qemuIo(theirs, asQemuIoCommands(ops));
    expect(qemuCheck(img)).to.equal(0);
    expectSameAsQemu(img, theirs);
    qemuImg('snapshot', '-a', 'snap', img);
    expect(qemuRaw(img).equals(before)).to.equal(true);
  });

  it('grows the refcount table when the image outgrows it (512-byte clusters, 64-bit refcounts)', () => {
    const img = path.join(dir, 'g.qcow2');
    createQcow2(img, { size: 8 * MiB, clusterBits: 9, refcountOrder: 6 });
    const before = qemuImg('info', '--output=json', img);
    const disk = openSync(img, { readOnly: false });
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < 8; i++) {
      chunk.fill(i + 1);
      disk.writeSync(i * MiB, chunk);
    }
    disk.closeSync();
    expect(qemuCheck(img)).to.equal(0);
    const expected = Buffer.alloc(8 * MiB);
    for (let i = 0; i < 8; i++) expected.fill(i + 1, i * MiB, (i + 1) * MiB);
    expect(mvmRaw(img).equals(expected)).to.equal(true);
    expect(qemuRaw(img).equals(expected)).to.equal(true);
    expect(before).to.be.a('string');
  });

  it('with lazy refcounts sets the dirty bit while writing and leaves a clean image on close', () => {
    const img = path.join(dir, 'lazy.qcow2');
    createQcow2(img, { size: 2 * MiB, clusterBits: 12, lazyRefcounts: true });
    const disk = openSync(img, { readOnly: false });
    disk.writeSync(5000, Buffer.alloc(70000, 3));
    disk.flushSync();
    const header = fs.readFileSync(img).subarray(72, 80);
    expect(header.readUInt32BE(4) & 1, 'dirty bit while open').to.equal(1);
    disk.closeSync();
    expect(fs.readFileSync(img).subarray(72, 80).readUInt32BE(4) & 1, 'dirty bit after close').to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
    expect(mvmRaw(img).equals(qemuRaw(img))).to.equal(true);
  });
});

describe('qcow2 snapshots in one session', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('reuses clusters freed by deleting a snapshot after its L2 tables were copied', async () => {
    const { Qcow2Image } = await import('../../src/disk/qcow2/image.js');
    const { createSnapshot, deleteSnapshot } = await import('../../src/disk/qcow2/snapshot.js');
    const img = path.join(dir, 's.qcow2');
    createQcow2(img, { size: 2 * MiB, clusterBits: 12 });
    const d = Qcow2Image.open(img, { readOnly: false });
    d.writeSync(0, Buffer.alloc(MiB, 1));
    createSnapshot(d, 'a');
    d.writeSync(0, Buffer.alloc(MiB, 2)); // copies every L2 table and data cluster
    deleteSnapshot(d, 'a'); // frees the old tables and clusters
    d.writeSync(MiB, Buffer.alloc(MiB, 3)); // must be able to reuse them
    d.closeSync();
    expect(qemuCheck(img)).to.equal(0);
    const expected = Buffer.concat([Buffer.alloc(MiB, 2), Buffer.alloc(MiB, 3)]);
    expect(mvmRaw(img).equals(expected)).to.equal(true);
    expect(qemuRaw(img).equals(expected)).to.equal(true);
  });
});
