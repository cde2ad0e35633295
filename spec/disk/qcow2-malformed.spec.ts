// A corpus of malformed images made by poking header and table bytes: each
// must give one clear error naming the image and the problem — no crash, no
// hang, no allocation sized by a lying field.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from '../../src/disk/errors.js';
import { openSync } from '../../src/disk/open.js';
import { H, INCOMPAT_CORRUPT } from '../../src/disk/qcow2/constants.js';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { Qcow2Image } from '../../src/disk/qcow2/image.js';
import { makeTempDir, qemuImg, qemuIo, removeDir } from '../helpers/qcow2-oracle.js';
import { peekU64, poke, pokeU32, pokeU64 } from '../helpers/qcow2-poke.js';
import { runMvmSync } from '../helpers/mvm-cli.js';

const CS = 65536;

function openError(image: string, readOnly = true): ImageError {
  try {
    const img = Qcow2Image.open(image, { readOnly });
    try {
      const buf = Buffer.alloc(Math.min(img.size, 1 << 20));
      img.readSync(0, buf);
      if (!readOnly) img.writeSync(0, Buffer.alloc(CS * 3, 7));
    } finally {
      img.closeSync();
    }
  } catch (err) {
    if (err instanceof ImageError) return err;
    throw err;
  }
  throw new Error('expected an ImageError');
}

describe('qcow2 malformed images give one clear error', () => {
  let dir: string, img: string;
  beforeEach(() => {
    dir = makeTempDir();
    img = path.join(dir, 'bad.qcow2');
    createQcow2(img, { size: 4 << 20 });
    const d = openSync(img, { readOnly: false });
    d.writeSync(0, Buffer.alloc(3 * CS, 0x42));
    d.closeSync();
  });
  afterEach(() => removeDir(dir));

  const headerCases: Array<[string, () => void, RegExp]> = [
    ['bad magic', () => pokeU32(img, H.magic, 0x12345678), /not a qcow2 image/],
    ['version 4', () => pokeU32(img, H.version, 4), /unsupported qcow2 version 4/],
    ['cluster_bits 8', () => pokeU32(img, H.clusterBits, 8), /cluster_bits 8/],
    ['cluster_bits 22', () => pokeU32(img, H.clusterBits, 22), /cluster_bits 22/],
    ['unknown incompatible bit', () => pokeU32(img, H.incompatibleFeatures + 4, 1 << 5), /incompatible feature bits 0x20/],
    ['incompatible bit in the high word', () => pokeU32(img, H.incompatibleFeatures, 1), /incompatible feature/],
    ['external data file', () => pokeU32(img, H.incompatibleFeatures + 4, 1 << 2), /external data file/],
    ['encryption', () => pokeU32(img, H.cryptMethod, 1), /encrypted/],
    ['header_length too small', () => pokeU32(img, H.headerLength, 96), /header_length 96/],
    ['header_length unaligned', () => pokeU32(img, H.headerLength, 105), /header_length 105/],
    ['refcount_order 7', () => pokeU32(img, H.refcountOrder, 7), /refcount_order 7/],
    [
      'compression type 2',
      () => {
        pokeU32(img, H.incompatibleFeatures + 4, 1 << 3);
        poke(img, H.compressionType, Buffer.from([2]));
      },
      /unknown compression type 2/,
    ],
    ['zstd type without its feature bit', () => poke(img, H.compressionType, Buffer.from([1])), /compression type set without its feature bit/],
    ['huge L1 size', () => pokeU32(img, H.l1Size, 0x10000000), /L1 table of 268435456 entries is larger/],
    ['L1 too small for the size', () => pokeU64(img, H.size, 0x10, 0), /too small for the virtual size/],
    ['size beyond 2^53', () => pokeU64(img, H.size, 0x7fffffff, 0), /out of range/],
    ['L1 beyond end of file', () => pokeU64(img, H.l1TableOffset, 0, 0x7000_0000), /L1 table at offset .* beyond the end of the file/],
    ['L1 unaligned', () => pokeU64(img, H.l1TableOffset, 0, 0x30200), /L1 table offset 197120 is not aligned/],
    ['L1 in the header', () => pokeU64(img, H.l1TableOffset, 0, 0), /L1 table overlaps the image header/],
    ['L1 on the refcount table', () => pokeU64(img, H.l1TableOffset, 0, CS), /overlaps the refcount table/],
    ['refcount table too large', () => pokeU32(img, H.refcountTableClusters, 0x100000), /refcount table of 1048576 clusters is larger/],
    ['no refcount table', () => pokeU32(img, H.refcountTableClusters, 0), /no refcount table/],
    ['refcount table at offset 0', () => pokeU64(img, H.refcountTableOffset, 0, 0), /refcount table overlaps the image header/],
    ['too many snapshots', () => pokeU32(img, H.nbSnapshots, 100000), /100000 snapshots/],
    [
      'snapshot table beyond end of file',
      () => {
        pokeU32(img, H.nbSnapshots, 1);
        pokeU64(img, H.snapshotsOffset, 1, 0);
      },
      /snapshot table .* beyond the end/,
    ],
    [
      'backing name too long',
      () => {
        pokeU64(img, H.backingFileOffset, 0, 512);
        pokeU32(img, H.backingFileSize, 5000);
      },
      /backing file name of 5000 bytes/,
    ],
    [
      'backing name outside the header cluster',
      () => {
        pokeU64(img, H.backingFileOffset, 0, CS - 4);
        pokeU32(img, H.backingFileSize, 100);
      },
      /outside the header cluster/,
    ],
    [
      'extension overrunning the header',
      () => {
        pokeU32(img, 112, 0x1234);
        pokeU32(img, 116, 0xffff0);
      },
      /extension 0x1234 overruns/,
    ],
    [
      'end marker with a huge length (QEMU refuses it too)',
      () => {
        pokeU32(img, 112, 0);
        pokeU32(img, 116, 0xfff00);
      },
      /extension 0x0 overruns/,
    ],
  ];
  for (const [name, damage, message] of headerCases) {
    it(`refuses ${name}`, () => {
      damage();
      const err = openError(img);
      expect(err.message).to.match(message);
      expect(err.message.startsWith(img)).to.equal(true);
      expect(err.message).not.to.contain('\n');
    });
  }

  it('refuses an L2 table beyond the end of the file when reading', () => {
    const l1 = peekU64(img, H.l1TableOffset);
    pokeU64(img, l1, 0x8000_0000, 0x4000_0000);
    expect(openError(img).message).to.match(/L2 table at offset 1073741824 .* beyond the end of the file/);
  });

  it('refuses an L2 entry pointing at an unaligned cluster', () => {
    const l1 = peekU64(img, H.l1TableOffset);
    const l2 = peekU64(img, l1) % 2 ** 56;
    pokeU64(img, l2, 0x8000_0000, 0x50200);
    expect(openError(img).message).to.match(/unaligned offset 328192/);
  });

  it('refuses to write with a refcount table entry beyond any file, and check -r all repairs it', () => {
    const table = peekU64(img, H.refcountTableOffset);
    pokeU64(img, table + 8 * 475, 0xff000000, 0);
    expect(openError(img, false).message).to.match(/refcount table entry 475 is invalid/);
    const r = runMvmSync(['image', 'check', '-r', 'all', img]);
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(spawnSync('qemu-img', ['check', img]).status).to.equal(0);
  });

  // Damage the bit-flip fuzz found where mvm's check first disagreed with qemu-img's.
  const checkCases: Array<[string, () => void]> = [
    ['an L1 entry with flags but no offset', () => pokeU64(img, peekU64(img, H.l1TableOffset), 0x8000_0000, 0)],
    [
      'reserved bits in an L2 entry',
      () => {
        const l2 = peekU64(img, peekU64(img, H.l1TableOffset)) % 2 ** 56;
        pokeU64(img, l2 + 8 * 100, 0, 0x2e);
      },
    ],
    [
      'a compressed entry with the COPIED flag',
      () => {
        const l2 = peekU64(img, peekU64(img, H.l1TableOffset)) % 2 ** 56;
        const d = Qcow2Image.open(img, { readOnly: false });
        d.writeCompressedSync(40, Buffer.alloc(200, 0)); // a real compressed entry at index 40 (tiny deflate input is fine)
        d.closeSync();
        const at = l2 + 8 * 40;
        poke(img, at, Buffer.from([fs.readFileSync(img)[at]! | 0x80]));
      },
    ],
  ];
  for (const [name, damage] of checkCases) {
    it(`check agrees with qemu-img on ${name}, and -r all repairs it`, () => {
      damage();
      const theirs = spawnSync('qemu-img', ['check', img]).status;
      const mine = runMvmSync(['image', 'check', img]);
      expect(mine.status, mine.stdout).to.equal(theirs);
      expect(theirs).to.equal(2);
      expect(runMvmSync(['image', 'check', '-r', 'all', img]).status).to.equal(0);
      expect(spawnSync('qemu-img', ['check', img]).status).to.equal(0);
    });
  }

  it('refuses to write in place through an L2 entry pointing far beyond the end of the file', () => {
    const l1 = peekU64(img, H.l1TableOffset);
    const l2 = peekU64(img, l1) % 2 ** 56;
    pokeU64(img, l2, 0x8000_0100, 0); // COPIED, offset 2^40
    const size = fs.statSync(img).size;
    expect(openError(img, false).message).to.match(/points beyond the end of the file/);
    expect(fs.statSync(img).size).to.equal(size);
  });

  it('refuses a compressed cluster that does not inflate', () => {
    const l1 = peekU64(img, H.l1TableOffset);
    const l2 = peekU64(img, l1) % 2 ** 56;
    pokeU64(img, l2, 0x4000_0000, 0x50000); // compressed, one sector of the image's plain data
    expect(openError(img).message).to.match(/compressed cluster/);
  });

  it('refuses to hand out a cluster that holds an L2 table, and marks the image corrupt', () => {
    // Zero the refcount of the first L2 table (cluster 4 of a fresh 64 KiB-cluster image).
    const refblock = peekU64(img, peekU64(img, H.refcountTableOffset));
    poke(img, refblock + 4 * 2, Buffer.alloc(2));
    const d = Qcow2Image.open(img, { readOnly: false });
    let caught: unknown;
    try {
      d.writeSync(3 * CS, Buffer.alloc(CS, 1));
      d.writeSync(64 * CS, Buffer.alloc(CS, 1)); // needs a new cluster; the free-looking L2 table is first in line
      d.flushSync();
    } catch (err) {
      caught = err;
    }
    d.closeSync();
    expect(caught).to.be.instanceOf(ImageError);
    expect((caught as Error).message).to.match(/holds metadata; image marked corrupt/);
    const incompat = fs.readFileSync(img).readUInt32BE(H.incompatibleFeatures + 4);
    expect(incompat & INCOMPAT_CORRUPT).to.equal(INCOMPAT_CORRUPT);
    expect(openError(img, false).message).to.match(/marked corrupt/);
  });

  it('detects a backing file that is the image itself (by device and inode)', () => {
    const self = path.join(dir, 'self.qcow2');
    createQcow2(self, { size: 1 << 20, backing: { name: 'self.qcow2', format: 'qcow2' } });
    expect(openError(self).message).to.match(/loops back/);
  });

  it('detects a two-image loop reached through a hard link', () => {
    const a = path.join(dir, 'a.qcow2'),
      b = path.join(dir, 'b.qcow2');
    createQcow2(a, { size: 1 << 20, backing: { name: 'b.qcow2', format: 'qcow2' } });
    createQcow2(path.join(dir, 'tmp.qcow2'), { size: 1 << 20, backing: { name: 'a-link.qcow2', format: 'qcow2' } });
    fs.renameSync(path.join(dir, 'tmp.qcow2'), b);
    fs.linkSync(a, path.join(dir, 'a-link.qcow2'));
    expect(openError(a).message).to.match(/loops back/);
  });

  it('caps the depth of a backing chain', () => {
    let prev = 'c0.qcow2';
    createQcow2(path.join(dir, prev), { size: 1 << 20 });
    for (let i = 1; i <= 40; i++) {
      createQcow2(path.join(dir, `c${i}.qcow2`), { size: 1 << 20, backing: { name: prev, format: 'qcow2' } });
      prev = `c${i}.qcow2`;
    }
    expect(openError(path.join(dir, prev)).message).to.match(/deeper than 32/);
  });

  for (const name of ['json:{"file.filename":"/etc/shadow"}', 'nbd://host/x', 'file:/etc/passwd']) {
    it(`refuses the protocol backing name ${name}`, () => {
      qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', name, '-F', 'raw', img, '1M');
      expect(openError(img).message).to.match(/protocol or json: prefix/);
    });
  }

  it('refuses a missing backing file and an unknown backing format', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', 'nowhere.raw', '-F', 'raw', img, '1M');
    expect(openError(img).message).to.match(/nowhere.raw does not exist/);
    const base = path.join(dir, 'base.vmdk');
    fs.writeFileSync(base, Buffer.alloc(4096));
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', 'base.vmdk', '-F', 'vmdk', img, '1M');
    expect(openError(img).message).to.match(/unsupported image format "vmdk"/);
  });

  it('refuses a snapshot table entry with oversized extra data', () => {
    const q = path.join(dir, 'snap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', q, '1M');
    qemuIo(q, ['write 0 64k']);
    qemuImg('snapshot', '-c', 's', q);
    const table = peekU64(q, H.snapshotsOffset);
    pokeU32(q, table + 36, 1 << 30);
    const r = runMvmSync(['image', 'snapshot', '-l', q]);
    expect(r.status).to.equal(1);
    expect(r.stderr.trim()).to.match(/^mvm: .*snap.qcow2: snapshot 0 has 1073741824 bytes of extra data \(limit 1024\)$/);
  });

  it('prints one line and exits 1 from the CLI', () => {
    pokeU32(img, H.version, 9);
    const r = runMvmSync(['image', 'info', img]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.equal(`mvm: ${img}: unsupported qcow2 version 9\n`);
  });
});
