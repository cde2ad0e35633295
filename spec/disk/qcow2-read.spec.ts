// The read path against QEMU: images made and filled by qemu-img/qemu-io read
// byte for byte the same through mvm as through `qemu-img convert -O raw`.
import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSync } from '../../src/disk/open.js';
import { makeTempDir, mvmRaw, qemuCheck, qemuImg, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';

const SIZE = '3M';

/** A mix of plain, patterned, zeroed, compressed and discarded ranges, cluster-unaligned. */
function fillCommands(compress: boolean): string[] {
  const cmds = [
    'write -P 0x11 0 70k',
    'write -P 0x22 131000 5000',
    'write -z 8k 12k',
    'write -P 0x33 1M 256k',
    'discard 1M 128k',
    'write -P 0x44 2900k 172k',
    'write -z 2M 64k',
  ];
  if (compress) cmds.push('write -c -P 0x55 1536k 64k', 'write -c -P 0x66 2496k 64k');
  return cmds;
}

describe('qcow2 read path (oracle: qemu-img convert -O raw)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  const matrix: Array<{ compat: string; cluster: number; refbits: number }> = [
    { compat: '0.10', cluster: 65536, refbits: 16 },
    { compat: '0.10', cluster: 4096, refbits: 16 },
    { compat: '1.1', cluster: 512, refbits: 1 },
    { compat: '1.1', cluster: 1024, refbits: 2 },
    { compat: '1.1', cluster: 4096, refbits: 4 },
    { compat: '1.1', cluster: 8192, refbits: 8 },
    { compat: '1.1', cluster: 65536, refbits: 16 },
    { compat: '1.1', cluster: 131072, refbits: 32 },
    { compat: '1.1', cluster: 2097152, refbits: 64 },
  ];
  for (const { compat, cluster, refbits } of matrix) {
    it(`reads compat=${compat} cluster=${cluster} refcount_bits=${refbits} with zero and compressed clusters`, () => {
      const img = path.join(dir, 'a.qcow2');
      qemuImg('create', '-q', '-f', 'qcow2', '-o', `compat=${compat},cluster_size=${cluster},refcount_bits=${refbits}`, img, SIZE);
      // 64k compressed writes need whole clusters; skip compression where 64k is not a multiple of the cluster.
      qemuIo(img, fillCommands(cluster <= 65536));
      const expected = qemuRaw(img);
      expect(mvmRaw(img).equals(expected)).to.equal(true);
    });
  }

  it('reads an image whose every cluster is compressed (qemu-img convert -c)', () => {
    const src = path.join(dir, 'src.raw');
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251 < 40 ? i & 0xff : 0x5a;
    fs.writeFileSync(src, data);
    const img = path.join(dir, 'c.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', src, img);
    expect(mvmRaw(img).equals(data)).to.equal(true);
  });

  for (const cluster of [512, 4096, 65536, 2097152]) {
    it(`reads zstd-compressed clusters (compression_type=zstd, cluster ${cluster}), packed several to a sector and some stored plain`, () => {
      const src = path.join(dir, 'src.raw');
      const data = Buffer.alloc(4 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251 < 40 ? i & 0xff : 0x5a;
      randomFillSync(data, 1 << 20, 300_000); // incompressible: stored plain
      data.fill(0, 3 << 20, (3 << 20) + 700_000);
      fs.writeFileSync(src, data);
      const img = path.join(dir, 'z.qcow2');
      qemuImg('convert', '-c', '-O', 'qcow2', '-o', `cluster_size=${cluster},compression_type=zstd`, src, img);
      expect(JSON.parse(qemuImg('info', '--output=json', img))['format-specific'].data['compression-type']).to.equal('zstd');
      expect(mvmRaw(img).equals(data)).to.equal(true);
      // A write over part of a compressed cluster is a copy-on-write through the zstd path.
      const copy = path.join(dir, 'w.qcow2');
      fs.copyFileSync(img, copy);
      const d = openSync(copy, { readOnly: false });
      d.writeSync(1000, Buffer.alloc(300, 0x77));
      d.closeSync();
      expect(qemuCheck(copy)).to.equal(0);
      expect(qemuRaw(copy).equals(Buffer.concat([data.subarray(0, 1000), Buffer.alloc(300, 0x77), data.subarray(1300)]))).to.equal(true);
    });
  }

  it('follows a three-level chain with a raw base, relative names and a base smaller than the overlay', () => {
    fs.mkdirSync(path.join(dir, 'sub'));
    const base = path.join(dir, 'sub', 'base.raw');
    fs.writeFileSync(base, Buffer.alloc(1 << 20, 0xab));
    const mid = path.join(dir, 'sub', 'mid.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', mid, '2M');
    qemuIo(mid, ['write -P 0x01 500k 100k', 'write -z 700k 64k']);
    const top = path.join(dir, 'top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'sub/mid.qcow2', '-F', 'qcow2', top, '3M');
    qemuIo(top, ['write -P 0x02 510k 3k', 'write -P 0x03 1020k 100k', 'discard 2M 64k']);
    expect(mvmRaw(top).equals(qemuRaw(top))).to.equal(true);
  });

  it('reads a version 2 overlay over a qcow2 base (no zero flag: discard exposes the base)', () => {
    const base = path.join(dir, 'base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuIo(base, ['write -P 0x77 0 1M']);
    const top = path.join(dir, 'top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'base.qcow2', '-F', 'qcow2', top);
    qemuIo(top, ['write -P 0x10 4k 4k', 'write -z 128k 64k', 'write -P 0x12 300k 200k']);
    expect(mvmRaw(top).equals(qemuRaw(top))).to.equal(true);
  });

  it('reads the active layer of an image with internal snapshots', () => {
    const img = path.join(dir, 's.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '1M');
    qemuIo(img, ['write -P 0x01 0 1M']);
    qemuImg('snapshot', '-c', 'one', img);
    qemuIo(img, ['write -P 0x02 4k 8k', 'discard 64k 64k']);
    expect(mvmRaw(img).equals(qemuRaw(img))).to.equal(true);
  });

  it('reads images with extended L2 entries (subclusters)', () => {
    const base = path.join(dir, 'base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuIo(base, ['write -P 0x61 0 1M']);
    const img = path.join(dir, 'x.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=65536', '-b', 'base.qcow2', '-F', 'qcow2', img);
    qemuIo(img, ['write -P 0x62 2k 3k', 'write -z 70k 4k', 'write -P 0x63 200k 100k', 'write -c -P 0x64 512k 64k']);
    expect(mvmRaw(img).equals(qemuRaw(img))).to.equal(true);
  });
});
