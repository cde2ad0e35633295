// The file-system benchmark's pure parts (src/bench/guest-fs): the guest's
// result lines, and QEMU's command line giving it the same share as mvm's.
import { expect } from 'chai';
import { mvmShareArgs, qemuShareArgs } from '../../src/bench/guest-fs/contenders.js';
import { PHASES, guestScript, parseGuestOutput, rateOf } from '../../src/bench/guest-fs/workload.js';

const FILES = { kernel: '/k/vmlinux', initrd: '/k/initrd' };

describe('bench guest-fs', () => {
  it('reads every phase from the console, ignoring other lines, and computes MB/s and ops/s', () => {
    const console = [
      'noise',
      'mvm-fsbench seqwrite bytes=33554432 ops=32 ns=1000000000',
      'mvm-fsbench seqread bytes=33554432 ops=32 ns=500000000',
      'mvm-fsbench create bytes=4096000 ops=1000 ns=2000000000',
      'mvm-fsbench stat bytes=0 ops=1000 ns=100000000',
      'mvm-fsbench read bytes=4096000 ops=1000 ns=1000000000',
      'mvm-fsbench unlink bytes=0 ops=1000 ns=250000000',
    ].join('\n');
    const parsed = parseGuestOutput(console);
    expect(Object.keys(parsed).sort()).to.deep.equal([...PHASES].sort());
    expect(rateOf('seqwrite', parsed.seqwrite)).to.be.closeTo(33.554432, 1e-9);
    expect(rateOf('stat', parsed.stat)).to.equal(10_000);
    expect(() => parseGuestOutput(console.replace(/^mvm-fsbench unlink.*$/m, ''))).to.throw(/no result for unlink/);
  });

  it('mounts, runs every phase and prints the marker in the guest script', () => {
    const script = guestScript('mount -t virtiofs bench /bench', { sequentialMib: 8, smallFiles: 100 });
    expect(script).to.match(/^set -e; mkdir -p \/bench; mount -t virtiofs bench \/bench; /);
    expect(script).to.include('mvm-fsbench smallfiles /bench 100');
    expect(script).to.match(/echo mvm-guest-fs-done$/);
  });

  it('gives QEMU shared memfd RAM and a vhost-user-fs-device with the tag mvm uses', () => {
    const qemu = qemuShareArgs(FILES, ['true'], '/run/x/s.sock');
    expect(qemu).to.include('memory-backend=mem');
    expect(qemu.some((a) => /^memory-backend-memfd,id=mem,size=\d+M,share=on$/.test(a))).to.equal(true);
    expect(qemu).to.include('socket,id=fs0,path=/run/x/s.sock');
    expect(qemu).to.include('vhost-user-fs-device,chardev=fs0,tag=bench,queue-size=1024');
    expect(mvmShareArgs(FILES, ['true'], '/run/x/share')).to.include('/run/x/share,tag=bench');
    expect(() => qemuShareArgs(FILES, ['true'], '/a,b')).to.throw(/comma/);
  });
});
