// `mvm bench guest-disk`: the guest's script and its result lines, both VMMs'
// command lines, and one tiny run as a user runs it (moved into the helper VM
// on a PVM host): both VMMs and both formats measured, every rate positive,
// the table and the JSON agreeing. Not its speed.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mvmDiskArgs, qemuDiskArgs, type DiskRun } from '../../src/bench/guest-disk/contenders.js';
import type { GuestDiskResult } from '../../src/bench/guest-disk/suite.js';
import { DONE_MARKER, WORKLOADS, guestScript, parseGuestOutput, rateOf } from '../../src/bench/guest-disk/workload.js';
import { runMvm } from '../helpers/mvm-cli.js';

const RUN: DiskRun = {
  files: { kernel: '/k/vmlinux', initrd: '/k/initrd' },
  image: '/run/x/disk.qcow2',
  format: 'qcow2',
  command: ['sh', '-c', 'true'],
};

describe('in-guest disk benchmark: guest script and results', () => {
  it('runs every workload on /dev/vda with the asked sizes, then the marker', () => {
    const script = guestScript({ regionMib: 16, sequentialBlocks: 8, randomOps: 300 });
    expect(script).to.include('mvm-diskbench seqwrite /dev/vda 16 8');
    expect(script).to.include('mvm-diskbench seqread /dev/vda 16 8');
    expect(script).to.include('mvm-diskbench randwrite /dev/vda 16 300');
    expect(script).to.include('mvm-diskbench randread /dev/vda 16 300');
    expect(script.startsWith('set -e;')).to.equal(true);
    expect(script.endsWith(`echo ${DONE_MARKER}`)).to.equal(true);
  });

  it('reads the result lines (console line endings included) and computes MB/s and ops/s', () => {
    const output = [
      'mvm-diskbench seqwrite bytes=8388608 ops=8 ns=2000000000\r',
      'mvm-diskbench seqread bytes=8388608 ops=8 ns=1000000000\r',
      'noise',
      'mvm-diskbench randwrite bytes=409600 ops=100 ns=4000000000\r',
      'mvm-diskbench randread bytes=409600 ops=100 ns=2000000000\r',
    ].join('\n');
    const results = parseGuestOutput(output);
    expect(rateOf('seqwrite', results.seqwrite)).to.be.closeTo(8388608 / 1e6 / 2, 1e-9);
    expect(rateOf('seqread', results.seqread)).to.be.closeTo(8.388608, 1e-9);
    expect(rateOf('randwrite', results.randwrite)).to.equal(25);
    expect(rateOf('randread', results.randread)).to.equal(50);
  });

  it('names the workloads the guest printed nothing (or zero time) for', () => {
    expect(() => parseGuestOutput('mvm-diskbench seqwrite bytes=1 ops=1 ns=1\nmvm-diskbench seqread bytes=1 ops=1 ns=0\n')).to.throw(
      'no result for seqread, randwrite, randread',
    );
  });

  it('gives mvm the image in place (persistent) and QEMU the same file as a virtio-blk-device of its format', () => {
    const mvm = mvmDiskArgs(RUN);
    const disk = mvm.indexOf('--disk');
    expect(disk).to.be.greaterThan(0);
    expect(mvm[disk + 1]).to.equal('/run/x/disk.qcow2,persistent');
    expect(disk).to.be.lessThan(mvm.indexOf('--'));
    const qemu = qemuDiskArgs(RUN);
    expect(qemu).to.include('id=disk0,if=none,format=qcow2,file=/run/x/disk.qcow2');
    expect(qemu).to.include('virtio-blk-device,drive=disk0');
    expect(qemu.slice(0, 2)).to.deep.equal(['-M', 'microvm,acpi=off']);
    expect(() => qemuDiskArgs({ ...RUN, image: '/tmp/a,b.raw' })).to.throw('comma');
  });
});

describe('mvm bench guest-disk (1 round, tiny sizes)', function () {
  // Four boots under TCG on a shared machine, each with a few MiB of emulated I/O.
  this.timeout(600_000);
  let dir: string;
  let result: GuestDiskResult;
  let stdout: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-guest-disk-'));
    const json = path.join(dir, 'guest-disk.json');
    const run = await runMvm(['bench', 'guest-disk', '--rounds', '1', '--region-mib', '2', '--seq-mib', '2', '--random-ops', '20', '--json', json], {
      timeoutMs: 580_000,
    });
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    stdout = run.stdout;
    result = JSON.parse(fs.readFileSync(json, 'utf8')) as GuestDiskResult;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('measures both VMMs on both formats, every workload once, with positive rates', () => {
    expect(result.rounds).to.equal(1);
    for (const vmm of ['mvm', 'qemu'] as const) {
      for (const format of ['raw', 'qcow2'] as const) {
        expect(result.samples[vmm][format], `${vmm} ${format}`).to.have.length(1);
        for (const workload of WORKLOADS) {
          const sample = result.samples[vmm][format][0]![workload];
          expect(sample.ops, `${vmm} ${format} ${workload}`).to.equal(workload.startsWith('seq') ? 2 : 20);
          expect(result.rates[vmm][format][workload].summary.median, `${vmm} ${format} ${workload}`).to.be.greaterThan(0);
        }
      }
    }
  });

  it('gives a positive mvm/QEMU ratio per format and workload, and prints the table', () => {
    expect(result.ratios).to.have.length(8);
    for (const r of result.ratios) expect(r.value, `${r.format} ${r.workload}`).to.be.greaterThan(0);
    expect(stdout).to.match(/^qcow2 randread QEMU microvm\s+ops\/s\s+1\s/m);
    expect(stdout).to.match(/^raw seqwrite mvm\/QEMU\s+[0-9.]+×$/m);
  });
});
