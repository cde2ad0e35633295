// `mvm image` subcommands end to end, with qemu-img as the judge.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { H } from '../../src/disk/qcow2/constants.js';
import { makeTempDir, qemuCheck, qemuImg, qemuImgStatus, qemuIo, qemuRaw, removeDir } from '../helpers/qcow2-oracle.js';
import { peekU64, poke } from '../helpers/qcow2-poke.js';
import { asQemuIoCommands, randomSequence } from '../helpers/qcow2-sequence.js';
import { runMvmSync, type CliResult } from '../helpers/mvm-cli.js';

function mvm(...args: string[]): CliResult {
  return runMvmSync(['image', ...args]);
}

function mvmOk(...args: string[]): string {
  const r = mvm(...args);
  expect(r.status, `mvm image ${args.join(' ')}: ${r.stderr}`).to.equal(0);
  return r.stdout;
}

function qemuInfo(image: string): Record<string, unknown> & { 'format-specific'?: { data: Record<string, unknown> } } {
  return JSON.parse(qemuImg('info', '--output=json', image));
}

/** Applies ops through `mvm`'s backend in-process via a tiny node one-liner (keeps the CLI honest too). */
function mvmApply(image: string, ops: ReturnType<typeof randomSequence>): void {
  const script = `import('${fileURLToPath(new URL('../helpers/qcow2-sequence.js', import.meta.url))}').then(async (s) => {
    const { openSync } = await import('${fileURLToPath(new URL('../../src/disk/open.js', import.meta.url))}');
    const d = openSync(process.argv[1], { readOnly: false }); s.applyWithMvm(d, JSON.parse(process.argv[2])); d.closeSync(); })`;
  const r = spawnSync('node', ['-e', script, image, JSON.stringify(ops)], { encoding: 'utf8' });
  expect(r.status, r.stderr).to.equal(0);
}

describe('mvm image (CLI, oracle: qemu-img)', function () {
  this.timeout(60_000);
  let dir: string;
  const p = (name: string) => path.join(dir, name);
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('create: sizes with suffixes, cluster size and refcount options, raw images', () => {
    mvmOk('create', p('a.qcow2'), '512M');
    expect(qemuInfo(p('a.qcow2'))['virtual-size']).to.equal(512 * 2 ** 20);
    mvmOk('create', '--cluster-size', '4K', p('b.qcow2'), '10G');
    const b = qemuInfo(p('b.qcow2'));
    expect(b['virtual-size']).to.equal(10 * 2 ** 30);
    expect(b['cluster-size']).to.equal(4096);
    mvmOk('create', '-o', 'cluster_size=2M,refcount_bits=64,lazy_refcounts=on', p('c.qcow2'), '3G');
    const c = qemuInfo(p('c.qcow2'));
    expect(c['cluster-size']).to.equal(2 ** 21);
    expect(c['format-specific']!.data['refcount-bits']).to.equal(64);
    expect(c['format-specific']!.data['lazy-refcounts']).to.equal(true);
    mvmOk('create', '-o', 'compat=0.10', p('d.qcow2'), '1M');
    expect(qemuInfo(p('d.qcow2'))['format-specific']!.data.compat).to.equal('0.10');
    for (const f of ['a', 'b', 'c', 'd']) expect(qemuCheck(p(`${f}.qcow2`)), f).to.equal(0);
    mvmOk('create', '-f', 'raw', p('r.img'), '10M');
    expect(fs.statSync(p('r.img')).size).to.equal(10 * 2 ** 20);
    const bad = mvm('create', p('e.qcow2'), '12X');
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/^mvm: invalid size "12X"/);
    expect(mvm('create', '--cluster-size', '3000', p('f.qcow2'), '1M').stderr).to.match(/power of two/);
  });

  it('create -b: a small overlay recording the backing format, sized like its base', () => {
    mvmOk('create', p('base.qcow2'), '10G');
    mvmOk('create', '-b', 'base.qcow2', p('ov.qcow2'));
    const st = fs.statSync(p('ov.qcow2'));
    expect(st.size).to.be.at.most(256 * 1024);
    const info = qemuInfo(p('ov.qcow2'));
    expect(info['virtual-size']).to.equal(10 * 2 ** 30);
    expect(info['backing-filename']).to.equal('base.qcow2');
    expect(info['backing-filename-format']).to.equal('qcow2');
    expect(qemuCheck(p('ov.qcow2'))).to.equal(0);
    mvmOk('create', '-b', 'ov.qcow2', p('top.qcow2'));
    const before = fs.readFileSync(p('base.qcow2'));
    expect(mvm('create', '-b', 'top.qcow2', p('base.qcow2')).stderr).to.match(/would overwrite .*base.qcow2, which the image reads from/);
    expect(mvm('convert', p('top.qcow2'), p('ov.qcow2')).stderr).to.match(/would overwrite .*ov.qcow2/);
    expect(fs.readFileSync(p('base.qcow2')).equals(before)).to.equal(true);
    const missing = mvm('create', '-b', 'nope.qcow2', p('x.qcow2'));
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/nope.qcow2 does not exist/);
  });

  it('info: text and --json agree with qemu-img info', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=8192,refcount_bits=8', p('base.qcow2'), '5M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('ov.qcow2'));
    qemuImg('snapshot', '-c', 'snap1', p('ov.qcow2'));
    const mine = JSON.parse(mvmOk('info', '--json', p('ov.qcow2')));
    const theirs = qemuInfo(p('ov.qcow2'));
    for (const key of ['virtual-size', 'cluster-size', 'backing-filename', 'backing-filename-format', 'format']) {
      expect(mine[key], key).to.deep.equal(theirs[key]);
    }
    expect(mine['format-specific'].data).to.include(theirs['format-specific']!.data as object);
    expect(mine.snapshots.map((s: { name: string }) => s.name)).to.deep.equal(['snap1']);
    const text = mvmOk('info', p('base.qcow2'));
    expect(text).to.match(/virtual size: 5 MiB \(5242880 bytes\)/);
    expect(text).to.match(/cluster_size: 8192/);
    expect(text).to.match(/refcount bits: 8/);
  });

  it('check: exit 0 clean, 3 for leaks, 2 for corruption; -r leaks and -r all repair', () => {
    const img = p('c.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '4M');
    qemuIo(img, ['write -P 1 0 1M']);
    expect(mvm('check', img).status).to.equal(0);
    const refblock = peekU64(img, peekU64(img, H.refcountTableOffset));
    poke(img, refblock, Buffer.from([0, 3])); // cluster 0 (header): refcount 3, one reference → leak
    expect(qemuCheck(img)).to.equal(3);
    const leak = mvm('check', img);
    expect(leak.status).to.equal(3);
    expect(leak.stdout).to.match(/1 leaked clusters were found/);
    expect(mvm('check', '-r', 'leaks', img).status).to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
    poke(img, refblock + 2 * 7, Buffer.from([0, 0])); // cluster 7: refcount 0 but referenced → corruption
    expect(qemuCheck(img)).to.equal(2);
    expect(mvm('check', img).status).to.equal(2);
    expect(mvm('check', '-r', 'leaks', img).status).to.equal(2);
    const all = mvm('check', '-r', 'all', img);
    expect(all.status, all.stdout).to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
    const l2 = peekU64(img, peekU64(img, H.l1TableOffset)) % 2 ** 56;
    poke(img, l2 + 7, Buffer.from([0x02 | fs.readFileSync(img)[l2 + 7]!])); // reserved bit 1 of L2 entry 0
    expect(qemuCheck(img)).to.equal(2);
    expect(mvm('check', img).stdout).to.match(/reserved bits set/);
    expect(mvm('check', '-r', 'all', img).status).to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
    const l1 = peekU64(img, H.l1TableOffset);
    poke(img, l1, Buffer.from([0x80, 0, 1, 0, 0, 0, 0, 0])); // L1 entry 0 → an L2 table 1 TiB past the end
    expect(mvm('check', img).status).to.equal(2);
    expect(mvm('check', '-r', 'all', img).status).to.equal(0);
    expect(qemuCheck(img)).to.equal(0);
    const json = JSON.parse(mvmOk('check', '--json', img));
    expect(json).to.include({ corruptions: 0, leaks: 0 });
    fs.writeFileSync(p('r.img'), Buffer.alloc(4096));
    expect(mvm('check', p('r.img')).status).to.equal(63);
  });

  it('check agrees with qemu-img on clean images of every shape (compressed, snapshots, v2, extended L2, 8- and 64-bit refcounts)', () => {
    const shapes = ['compat=0.10', 'cluster_size=512,refcount_bits=8', 'refcount_bits=64', 'extended_l2=on', 'cluster_size=4096'];
    for (const [i, o] of shapes.entries()) {
      const img = p(`k${i}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', '-o', o, img, '4M');
      qemuIo(img, ['write -P 1 0 300k', 'write -c -P 2 1M 128k', 'write -z 2M 64k']);
      qemuImg('snapshot', '-c', 'one', img);
      qemuIo(img, ['write -P 3 100k 8k', 'discard 1M 64k']);
      expect(qemuCheck(img), o).to.equal(0);
      const r = mvm('check', img);
      expect(r.status, `${o}: ${r.stdout}${r.stderr}`).to.equal(0);
      const repaired = mvm('check', '-r', 'all', img);
      expect(repaired.status, o).to.equal(0);
      expect(qemuCheck(img), o).to.equal(0);
    }
  });

  it('snapshot -c/-l/-a/-d behaves like qemu-img snapshot under random writes', () => {
    const mine = p('mine.qcow2'),
      theirs = p('theirs.qcow2');
    mvmOk('create', '--cluster-size', '4K', mine, '2M');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', theirs, '2M');
    const shape = { size: 2 << 20, count: 60, maxLength: 20_000, discards: 100, zeroes: 100, align: 4096 };
    const both = (seed: number) => {
      const ops = randomSequence(seed, shape);
      mvmApply(mine, ops);
      qemuIo(theirs, asQemuIoCommands(ops));
    };
    const same = () => expect(qemuImgStatus('compare', mine, theirs).status).to.equal(0);
    both(1);
    mvmOk('snapshot', '-c', 's1', mine);
    qemuImg('snapshot', '-c', 's1', theirs);
    both(2);
    same();
    mvmOk('snapshot', '-c', 's2', mine);
    qemuImg('snapshot', '-c', 's2', theirs);
    both(3);
    same();
    expect(qemuCheck(mine)).to.equal(0);
    mvmOk('snapshot', '-a', 's1', mine);
    qemuImg('snapshot', '-a', 's1', theirs);
    same();
    expect(qemuCheck(mine)).to.equal(0);
    both(4);
    mvmOk('snapshot', '-d', 's1', mine);
    qemuImg('snapshot', '-d', 's1', theirs);
    same();
    expect(qemuCheck(mine)).to.equal(0);
    expect(mvmOk('snapshot', '-l', mine)).to.match(/2\s+s2/);
    expect(qemuImg('snapshot', '-l', mine))
      .to.match(/s2/)
      .and.not.to.match(/s1/);
    qemuImg('snapshot', '-a', 's2', mine);
    qemuImg('snapshot', '-a', 's2', theirs);
    same();
    expect(mvm('snapshot', '-a', 'nope', mine).stderr).to.match(/no snapshot named "nope"/);
  });

  it('commit writes the overlay into its base and empties the overlay', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', p('base.qcow2'), '2M');
    qemuIo(p('base.qcow2'), ['write -P 0x11 0 2M']);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('ov.qcow2'));
    qemuIo(p('ov.qcow2'), ['write -P 0x22 5000 70000', 'write -z 1M 128k', 'write -P 0x33 1900k 100k']);
    const expected = qemuRaw(p('ov.qcow2'));
    mvmOk('commit', p('ov.qcow2'));
    expect(qemuRaw(p('base.qcow2')).equals(expected)).to.equal(true);
    expect(qemuRaw(p('ov.qcow2')).equals(expected)).to.equal(true);
    const map = JSON.parse(qemuImg('map', '--output=json', p('ov.qcow2'))) as Array<{ depth: number }>;
    expect(map.every((e) => e.depth >= 1)).to.equal(true);
    expect(qemuCheck(p('base.qcow2'))).to.equal(0);
    expect(qemuCheck(p('ov.qcow2'))).to.equal(0);
  });

  it('rebase keeps contents when the base changes; -u only renames; "" removes the base', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('old.qcow2'), '1M');
    qemuIo(p('old.qcow2'), ['write -P 0x01 0 1M']);
    fs.writeFileSync(p('new.raw'), Buffer.alloc(512 * 1024, 0x01)); // same first half, shorter
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'old.qcow2', '-F', 'qcow2', p('ov.qcow2'));
    qemuIo(p('ov.qcow2'), ['write -P 0x02 100k 10k']);
    const expected = qemuRaw(p('ov.qcow2'));
    mvmOk('rebase', '-b', 'new.raw', p('ov.qcow2'));
    let info = qemuInfo(p('ov.qcow2'));
    expect(info['backing-filename']).to.equal('new.raw');
    expect(info['backing-filename-format']).to.equal('raw');
    expect(qemuRaw(p('ov.qcow2')).equals(expected)).to.equal(true);
    expect(qemuCheck(p('ov.qcow2'))).to.equal(0);
    mvmOk('rebase', '-b', '', p('ov.qcow2'));
    info = qemuInfo(p('ov.qcow2'));
    expect(info['backing-filename']).to.equal(undefined);
    expect(qemuRaw(p('ov.qcow2')).equals(expected)).to.equal(true);
    mvmOk('rebase', '-u', '-F', 'qcow2', '-b', 'old.qcow2', p('ov.qcow2'));
    expect(qemuInfo(p('ov.qcow2'))['backing-filename']).to.equal('old.qcow2');
    expect(qemuCheck(p('ov.qcow2'))).to.equal(0);
  });

  it('convert: chain to raw, raw to compressed qcow2, with a progress bar', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('base.qcow2'), '3M');
    qemuIo(p('base.qcow2'), ['write -P 0x44 0 1M', 'write -P 0x45 2M 512k']);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', p('ov.qcow2'));
    qemuIo(p('ov.qcow2'), ['write -P 0x46 100k 300k', 'write -z 2100k 100k']);
    const expected = qemuRaw(p('ov.qcow2'));
    mvmOk('convert', '-O', 'raw', p('ov.qcow2'), p('flat.raw'));
    expect(fs.readFileSync(p('flat.raw')).equals(expected)).to.equal(true);
    const r = mvm('convert', '-p', '-c', '-O', 'qcow2', '-o', 'cluster_size=16K', p('flat.raw'), p('small.qcow2'));
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('100.00%');
    expect(qemuCheck(p('small.qcow2'))).to.equal(0);
    expect(qemuRaw(p('small.qcow2')).equals(expected)).to.equal(true);
    expect(fs.statSync(p('small.qcow2')).size).to.be.below(200 * 1024);
    mvmOk('convert', p('ov.qcow2'), p('plain.qcow2'));
    expect(qemuImgStatus('compare', p('plain.qcow2'), p('ov.qcow2')).status).to.equal(0);
    expect(qemuCheck(p('plain.qcow2'))).to.equal(0);
  });

  it('convert keeps data in a last partial cluster or block (sizes that are not multiples of either)', () => {
    const size = 3 * 65536 + 1234;
    const data = Buffer.alloc(size, 0x21);
    fs.writeFileSync(p('odd.raw'), data);
    mvmOk('convert', '-f', 'raw', '-O', 'qcow2', p('odd.raw'), p('odd.qcow2'));
    expect(qemuRaw(p('odd.qcow2')).subarray(0, size).equals(data)).to.equal(true);
    expect(qemuCheck(p('odd.qcow2'))).to.equal(0);
    mvmOk('convert', '-O', 'raw', p('odd.raw'), p('odd2.raw'));
    expect(fs.readFileSync(p('odd2.raw')).equals(data)).to.equal(true);
    mvmOk('convert', '-c', '-O', 'qcow2', p('odd.raw'), p('oddc.qcow2'));
    expect(qemuRaw(p('oddc.qcow2')).subarray(0, size).equals(data)).to.equal(true);
  });

  it('map prints the same JSON as qemu-img map', () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', p('base.qcow2'), '1M');
    qemuIo(p('base.qcow2'), ['write -P 1 0 100k', 'write -z 200k 8k']);
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=8192', '-b', 'base.qcow2', '-F', 'qcow2', p('ov.qcow2'), '2M');
    qemuIo(p('ov.qcow2'), ['write -P 2 40k 20k', 'write -z 300k 16k', 'write -P 3 1500k 8k']);
    const mine = JSON.parse(mvmOk('map', '--output', 'json', p('ov.qcow2')));
    const theirs = JSON.parse(qemuImg('map', '--output=json', p('ov.qcow2')));
    expect(mine).to.deep.equal(theirs);
    expect(mvmOk('map', p('ov.qcow2'))).to.match(/^Offset\s+Length\s+Mapped to\s+File/);
  });
});
