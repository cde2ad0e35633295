// Rewriting the header keeps what mvm does not understand: unknown header
// fields and extensions survive snapshot and rebase; autoclear bits mvm does
// not maintain are cleared on a read-write open. Also: a deliberately tiny L2
// cache still gives QEMU's results.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSync } from '../../src/disk/open.js';
import { H } from '../../src/disk/qcow2/constants.js';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { Qcow2Image } from '../../src/disk/qcow2/image.js';
import { createSnapshot } from '../../src/disk/qcow2/snapshot.js';
import { rebaseImage } from '../../src/disk/rebase.js';
import { makeTempDir, qemuCheck, qemuImg, qemuImgStatus, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';
import { poke, pokeU32 } from '../helpers/qcow2-poke.js';
import { applyWithMvm, asQemuIoCommands, randomSequence } from '../helpers/qcow2-sequence.js';

const UNKNOWN_EXT = 0x12345678;
const UNKNOWN_FIELD_AT = 108; // inside QEMU 7.2's 112-byte header, past every field it defines

/** Lists (type, data) of the header extensions, walking from header_length. */
function extensions(image: string): Array<{ type: number; data: string }> {
  const buf = fs.readFileSync(image).subarray(0, 65536);
  const out: Array<{ type: number; data: string }> = [];
  for (let at = buf.readUInt32BE(H.headerLength); ; ) {
    const type = buf.readUInt32BE(at),
      len = buf.readUInt32BE(at + 4);
    if (type === 0) return out;
    out.push({ type, data: buf.subarray(at + 8, at + 8 + len).toString('hex') });
    at += 8 + Math.ceil(len / 8) * 8;
  }
}

/** Appends an extension mvm has never heard of just before the end marker. */
function addUnknownExtension(image: string): void {
  const buf = fs.readFileSync(image).subarray(0, 65536);
  let at = buf.readUInt32BE(H.headerLength);
  while (buf.readUInt32BE(at) !== 0) at += 8 + Math.ceil(buf.readUInt32BE(at + 4) / 8) * 8;
  // QEMU puts the backing name right after the end marker: move it behind the new extension.
  const nameAt = Number(buf.readBigUInt64BE(H.backingFileOffset));
  const name = nameAt ? buf.subarray(nameAt, nameAt + buf.readUInt32BE(H.backingFileSize)) : Buffer.alloc(0);
  const ext = Buffer.alloc(16 + 8);
  ext.writeUInt32BE(UNKNOWN_EXT, 0);
  ext.writeUInt32BE(5, 4);
  ext.write('hello', 8);
  poke(image, at, Buffer.concat([ext, name])); // ext's trailing 8 zero bytes are the new end marker
  if (nameAt) pokeU32(image, H.backingFileOffset + 4, at + ext.length);
}

describe('qcow2 header rewrites and L2 cache size', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('keeps unknown header fields and extensions through snapshot and rebase', async () => {
    const img = path.join(dir, 'x.qcow2');
    fs.writeFileSync(path.join(dir, 'base.raw'), Buffer.alloc(1 << 20, 9));
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', img);
    addUnknownExtension(img);
    pokeU32(img, UNKNOWN_FIELD_AT, 0xdeadbeef);
    const before = extensions(img);
    expect(before.map((e) => e.type)).to.include(UNKNOWN_EXT);
    const disk = openSync(img, { readOnly: false });
    disk.writeSync(1000, Buffer.alloc(5000, 1));
    disk.closeSync();
    const rw = Qcow2Image.open(img, { readOnly: false });
    createSnapshot(rw, 's');
    rw.closeSync();
    expect(extensions(img)).to.deep.equal(before);
    fs.writeFileSync(path.join(dir, 'other.raw'), Buffer.alloc(1 << 20, 9));
    await rebaseImage(img, 'other.raw', { format: 'raw' });
    const after = extensions(img);
    expect(after.filter((e) => e.type !== 0xe2792aca)).to.deep.equal(before.filter((e) => e.type !== 0xe2792aca));
    expect(fs.readFileSync(img).readUInt32BE(UNKNOWN_FIELD_AT)).to.equal(0xdeadbeef);
    expect(JSON.parse(qemuImg('info', '--output=json', img))['backing-filename']).to.equal('other.raw');
    expect(qemuCheck(img)).to.equal(0);
  });

  it('clears autoclear bits on a read-write open and leaves them on a read-only one', () => {
    const img = path.join(dir, 'a.qcow2');
    createQcow2(img, { size: 1 << 20 });
    pokeU32(img, H.autoclearFeatures + 4, 1);
    openSync(img, { readOnly: true }).closeSync();
    expect(fs.readFileSync(img).readUInt32BE(H.autoclearFeatures + 4)).to.equal(1);
    openSync(img, { readOnly: false }).closeSync();
    expect(fs.readFileSync(img).readUInt32BE(H.autoclearFeatures + 4)).to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
  });

  it("gives QEMU's results with an L2 cache of only four tables (eviction flushes in order)", () => {
    const mine = path.join(dir, 'mine.qcow2'),
      theirs = path.join(dir, 'theirs.qcow2');
    const size = 2 << 20;
    createQcow2(mine, { size, clusterBits: 9 });
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', theirs, String(size));
    const ops = randomSequence(77, { size, count: 300, maxLength: 3000, discards: 100, zeroes: 100, align: 512 });
    const disk = openSync(mine, { readOnly: false, l2CacheTables: 4 });
    applyWithMvm(disk, ops);
    disk.closeSync();
    qemuIo(theirs, asQemuIoCommands(ops));
    expect(qemuCheck(mine)).to.equal(0);
    expect(qemuImgStatus('compare', mine, theirs).status).to.equal(0);
    expect(qemuRaw(mine).equals(qemuRaw(theirs))).to.equal(true);
  });
});
