// `mvm image resize` with qemu-img as the judge: sizes, L1 growth, shrinking,
// the new area reading as zeros, and the refusals.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { targetSize } from '../../src/disk/resize.js';
import { runMvmSync, type CliResult } from '../helpers/mvm-cli.js';
import { makeTempDir, qemuCheck, qemuImg, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';

const MiB = 1 << 20;

function resize(...args: string[]): CliResult {
  return runMvmSync(['image', 'resize', ...args]);
}

function virtualSize(image: string): number {
  return (JSON.parse(qemuImg('info', '--output=json', image)) as { 'virtual-size': number })['virtual-size'];
}

describe('mvm image resize (oracle: qemu-img)', function () {
  this.timeout(30_000);
  let dir: string;
  const p = (name: string) => path.join(dir, name);
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('reads absolute and relative sizes', () => {
    expect(targetSize('10G', 5)).to.equal(10 * 2 ** 30);
    expect(targetSize('+1M', MiB)).to.equal(2 * MiB);
    expect(targetSize('-512K', MiB)).to.equal(MiB / 2);
    expect(() => targetSize('-2M', MiB)).to.throw(/negative/);
  });

  it('grows a qcow2 image past what its L1 table covers: data kept, the new part reads zero, qemu-img check clean', () => {
    // 512-byte clusters: one L1 entry covers 32 KiB, so 1 MiB -> 64 MiB needs a 64x larger L1 table.
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', p('a.qcow2'), '1M');
    qemuIo(p('a.qcow2'), ['write -P 0x41 0 1M']);
    const before = qemuRaw(p('a.qcow2'));
    const r = resize(p('a.qcow2'), '64M');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('Image resized from 1 MiB to 64 MiB.\n');
    expect(virtualSize(p('a.qcow2'))).to.equal(64 * MiB);
    expect(qemuCheck(p('a.qcow2'))).to.equal(0);
    const after = qemuRaw(p('a.qcow2'));
    expect(after.subarray(0, MiB).equals(before)).to.equal(true);
    expect(after.subarray(MiB).every((b) => b === 0)).to.equal(true);
    // Still writable at the far end through qemu-io, and still clean.
    qemuIo(p('a.qcow2'), ['write -P 0x42 63M 1M']);
    expect(qemuCheck(p('a.qcow2'))).to.equal(0);
  });

  it('grows an overlay whose base is longer: the new part reads zero, not the base', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('base.qcow2'), '8M');
    qemuIo(p('base.qcow2'), ['write -P 0x55 0 8M']);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('ov.qcow2'), '2M');
    expect(resize(p('ov.qcow2'), '+4M').status).to.equal(0);
    const data = qemuRaw(p('ov.qcow2'));
    expect(data.length).to.equal(6 * MiB);
    expect(data.subarray(0, 2 * MiB).every((b) => b === 0x55)).to.equal(true);
    expect(data.subarray(2 * MiB).every((b) => b === 0)).to.equal(true);
    expect(qemuCheck(p('ov.qcow2'))).to.equal(0);
  });

  it('shrinks only with --shrink; the clusters past the end are freed (no leaks)', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('s.qcow2'), '8M');
    qemuIo(p('s.qcow2'), ['write -P 0x61 0 8M']);
    const refused = resize(p('s.qcow2'), '2M');
    expect(refused.status).to.equal(1);
    expect(refused.stderr).to.match(/s\.qcow2: shrinking from 8388608 to 2097152 bytes throws data away; give --shrink/);
    expect(virtualSize(p('s.qcow2'))).to.equal(8 * MiB);
    expect(resize('--shrink', p('s.qcow2'), '--', '-6M').status).to.equal(0);
    expect(virtualSize(p('s.qcow2'))).to.equal(2 * MiB);
    expect(qemuCheck(p('s.qcow2'))).to.equal(0);
    expect(qemuRaw(p('s.qcow2')).every((b) => b === 0x61)).to.equal(true);
    const map = JSON.parse(qemuImg('map', '--output=json', p('s.qcow2'))) as Array<{ start: number; length: number; data: boolean }>;
    expect(map.filter((e) => e.data).reduce((n, e) => n + e.length, 0)).to.equal(2 * MiB);
  });

  it('resizes raw files both ways', () => {
    fs.writeFileSync(p('r.raw'), Buffer.alloc(MiB, 7));
    expect(resize(p('r.raw'), '3M').status).to.equal(0);
    expect(fs.statSync(p('r.raw')).size).to.equal(3 * MiB);
    expect(resize(p('r.raw'), '1000').status).to.equal(1);
    expect(resize('--shrink', p('r.raw'), '1000').status).to.equal(0);
    expect(fs.readFileSync(p('r.raw')).equals(Buffer.alloc(1000, 7))).to.equal(true);
  });

  it('refuses what it should, each with one line and nothing changed', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('snap.qcow2'), '1M');
    qemuImg('snapshot', '-c', 'one', p('snap.qcow2'));
    const cases: Array<[string[], RegExp]> = [
      [[p('snap.qcow2'), '2M'], /has internal snapshots/],
      [[p('snap.qcow2'), '1000'], /multiple of 512 bytes/],
      [[p('snap.qcow2'), 'lots'], /invalid size "lots"/],
      [[p('nope.qcow2'), '2M'], /nope\.qcow2/],
    ];
    for (const [args, pattern] of cases) {
      const r = resize(...args);
      expect(r.status, args.join(' ')).to.not.equal(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(r.stderr, args.join(' ')).to.match(pattern);
    }
    expect(virtualSize(p('snap.qcow2'))).to.equal(MiB);
    expect(qemuCheck(p('snap.qcow2'))).to.equal(0);
  });
});
