// `mvm image compare` says what `qemu-img compare` says, with the same exit
// status, on the same pairs of images.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMvmSync } from '../helpers/mvm-cli.js';
import { makeTempDir, qemuImg, qemuIo, removeDir } from '../helpers/qcow2-oracle.js';

function run(cmd: string, args: string[]): { status: number; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout };
}

describe('mvm image compare (oracle: qemu-img compare)', function () {
  this.timeout(30_000);
  let dir: string;
  const p = (name: string) => path.join(dir, name);
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('agrees with qemu-img on identical, different, differently sized and chained images', () => {
    qemuImg('create', '-q', '-f', 'qcow2', p('a.qcow2'), '4M');
    qemuIo(p('a.qcow2'), ['write -P 0x11 0 1M', 'write -z 2M 64k', 'write -P 0x22 3M 100k']);
    qemuImg('convert', '-O', 'raw', p('a.qcow2'), p('a.raw'));
    fs.copyFileSync(p('a.qcow2'), p('b.qcow2'));
    qemuIo(p('b.qcow2'), ['write -P 0x33 3000000 1']); // inside a sector: reported at the sector's start
    qemuImg('create', '-q', '-f', 'qcow2', p('big.qcow2'), '6M');
    qemuIo(p('big.qcow2'), ['write -P 0x11 0 1M', 'write -z 2M 64k', 'write -P 0x22 3M 100k']);
    fs.copyFileSync(p('big.qcow2'), p('bigger-data.qcow2'));
    qemuIo(p('bigger-data.qcow2'), ['write -P 0x44 5M 512']);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', p('ov.qcow2'));
    const pairs: string[][] = [
      [p('a.qcow2'), p('a.raw')],
      [p('a.qcow2'), p('b.qcow2')],
      [p('a.qcow2'), p('big.qcow2')],
      [p('big.qcow2'), p('a.raw')],
      [p('a.qcow2'), p('bigger-data.qcow2')],
      [p('ov.qcow2'), p('a.raw')],
      ['-s', p('a.qcow2'), p('big.qcow2')],
      ['-q', p('a.qcow2'), p('b.qcow2')],
    ];
    for (const args of pairs) {
      const theirs = run('qemu-img', ['compare', ...args]);
      const ours = runMvmSync(['image', 'compare', ...args]);
      expect({ status: ours.status, stdout: ours.stdout }, args.join(' ')).to.deep.equal(theirs);
    }
    expect(runMvmSync(['image', 'compare', p('a.qcow2'), p('b.qcow2')]).stdout).to.equal('Content mismatch at offset 2999808!\n');
  });

  it('exits 2, with one line, when an image cannot be read', () => {
    fs.writeFileSync(p('x.raw'), Buffer.alloc(4096));
    const r = runMvmSync(['image', 'compare', p('x.raw'), p('missing.qcow2')]);
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/missing\.qcow2/);
  });
});
