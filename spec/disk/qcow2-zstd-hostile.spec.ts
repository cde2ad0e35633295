// Hostile zstd-compressed clusters: every frame is checked before the decoder
// sees it, so a lying frame gives one clean error instead of gigabytes of
// allocation or output, or a crash.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from '../../src/disk/errors.js';
import { decodeCompressed } from '../../src/disk/qcow2/compressed.js';
import { unzstdCluster, zstdFrameLength } from '../../src/disk/qcow2/zstd-cluster.js';
import { runMvmSync } from '../helpers/mvm-cli.js';
import { makeTempDir, qemuImg, removeDir } from '../helpers/qcow2-oracle.js';

const CLUSTER = 65536;
const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** A frame: magic, descriptor byte, window byte (not single-segment), then the given blocks. */
function frame(descriptor: number, extraHeader: number[], blocks: number[][]): Buffer {
  return Buffer.from([...MAGIC, descriptor, ...extraHeader, ...blocks.flat()]);
}

/** A 3-byte block header: last flag, type (0 raw, 1 RLE, 2 compressed), size. */
function block(last: boolean, type: number, size: number, payload: number[]): number[] {
  const h = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, ...payload];
}

function refused(data: Buffer, pattern: RegExp): void {
  let err: unknown;
  try {
    unzstdCluster('img.qcow2', data, CLUSTER);
  } catch (e) {
    err = e;
  }
  expect(err, 'refused').to.be.instanceOf(ImageError);
  expect((err as Error).message).to.match(pattern);
}

describe('zstd-compressed clusters from a hostile image', () => {
  it('finds where a frame ends, so the rest of its last sector is not decoded', () => {
    // Window 64 KiB (exponent 6), one RLE block of a whole cluster of 0x5a, then padding.
    const f = frame(0x00, [6 << 3], [block(true, 1, CLUSTER, [0x5a])]);
    const padded = Buffer.concat([f, Buffer.from([1, 2, 3, 4, 5, 6, 7])]);
    expect(zstdFrameLength('img.qcow2', padded, CLUSTER)).to.equal(f.length);
    expect(unzstdCluster('img.qcow2', padded, CLUSTER).equals(Buffer.alloc(CLUSTER, 0x5a))).to.equal(true);
  });

  it('refuses a frame that asks for a huge window before anything is allocated', () => {
    refused(frame(0x00, [31 << 3], [block(true, 1, CLUSTER, [0])]), /asks for a \d+-byte window/);
  });

  it('refuses RLE blocks that would decode to far more than a cluster (a few bytes of input, gigabytes of output)', () => {
    const blocks = Array.from({ length: 4000 }, (_, i) => block(i === 3999, 1, (1 << 17) - 1, [0]));
    refused(frame(0x00, [6 << 3], blocks), /decodes to more than one cluster/);
  });

  it('refuses a frame needing a dictionary, a reserved block type, a truncated frame, and output other than one cluster', () => {
    refused(frame(0x01, [6 << 3, 7], [block(true, 1, CLUSTER, [0])]), /needs a dictionary/);
    refused(frame(0x00, [6 << 3], [block(true, 3, 10, [])]), /reserved block type/);
    refused(frame(0x00, [6 << 3], [block(true, 0, 100, [1, 2, 3])]), /truncated block/);
    refused(frame(0x00, [6 << 3], [block(true, 1, 1000, [7])]), /holds 1000 bytes instead of 65536/);
    refused(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), /no zstd frame/);
  });

  it('an image with a corrupted zstd cluster gives one clean error line from the CLI', () => {
    const dir = makeTempDir();
    try {
      const src = path.join(dir, 'src.raw');
      fs.writeFileSync(src, Buffer.alloc(1 << 20, 0x5a));
      const img = path.join(dir, 'z.qcow2');
      qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', src, img);
      // Overwrite the first compressed cluster's frame with a huge-window header.
      const file = fs.readFileSync(img);
      const l1 = Number(file.readBigUInt64BE(40));
      const l2 = Number(file.readBigUInt64BE(l1) & 0x00ff_ffff_ffff_fe00n);
      const ext = decodeCompressed(file.readUInt32BE(l2), file.readUInt32BE(l2 + 4), 16);
      Buffer.from([...MAGIC, 0x00, 31 << 3]).copy(file, ext.offset);
      fs.writeFileSync(img, file);
      const r = runMvmSync(['image', 'convert', '-O', 'raw', img, path.join(dir, 'out.raw')]);
      expect(r.status).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/z\.qcow2: zstd-compressed cluster is corrupt \(frame asks for a \d+-byte window\)/);
    } finally {
      removeDir(dir);
    }
  });
});
