// The boot benchmark compares like with like: mvm and QEMU microvm get the
// same kernel, initramfs, memory, vCPUs, kernel command line and guest command.
import { expect } from 'chai';
import {
  BENCH_BOOT_ARGS,
  BENCH_MARKER,
  IDLE_COMMAND,
  MARKER_COMMAND,
  benchCmdline,
  mvmRunArgs,
  parseMvmTiming,
  qemuMicrovmArgs,
} from '../../src/bench/boot/contenders.js';
import { DEFAULT_BOOT_ARGS, commandParameter } from '../../src/vmm/default-cmdline.js';

const files = { kernel: '/k/vmlinux', initrd: '/k/initrd.gz' };
const valueAfter = (args: readonly string[], flag: string) => args[args.indexOf(flag) + 1];

describe('boot benchmark contenders', () => {
  it("uses mvm's default command line with only the reset method changed to a triple fault", () => {
    expect(BENCH_BOOT_ARGS.split(' ').filter((w) => !DEFAULT_BOOT_ARGS.split(' ').includes(w))).to.deep.equal(['reboot=t']);
    expect(DEFAULT_BOOT_ARGS.split(' ').filter((w) => !BENCH_BOOT_ARGS.split(' ').includes(w))).to.deep.equal(['reboot=k']);
  });

  it('gives QEMU the very command line mvm builds from its --boot-args and guest command', () => {
    const mvm = mvmRunArgs(files);
    const guestCommand = mvm.slice(mvm.indexOf('--') + 1);
    expect(guestCommand).to.deep.equal(['echo', BENCH_MARKER]);
    const qemu = qemuMicrovmArgs(files);
    expect(valueAfter(qemu, '-append')).to.equal(`${valueAfter(mvm, '--boot-args')} ${commandParameter(guestCommand)}`);
    expect(valueAfter(qemu, '-append')).to.equal(benchCmdline());
  });

  it('boots the same files with the same memory and vCPU count, QEMU on KVM exiting at the reset', () => {
    const mvm = mvmRunArgs(files);
    const qemu = qemuMicrovmArgs(files);
    expect([valueAfter(mvm, '--kernel'), valueAfter(mvm, '--initrd')]).to.deep.equal([valueAfter(qemu, '-kernel'), valueAfter(qemu, '-initrd')]);
    expect(valueAfter(mvm, '--memory')).to.equal(`${valueAfter(qemu, '-m')}M`);
    expect(valueAfter(mvm, '--cpus')).to.equal(valueAfter(qemu, '-smp'));
    expect(valueAfter(qemu, '-accel')).to.equal('kvm');
    expect(valueAfter(qemu, '-M')).to.match(/^microvm/);
    expect(qemu).to.include('-no-reboot');
    expect(mvm).to.include('--timing');
  });

  it("reads mvm's --timing line, leaving out what it does not print", () => {
    const line = 'mvm: boot to userspace 2342 ms (VMM setup 574 ms, kernel + init 1768 ms); ran 2559 ms; 142 I/O exits\n';
    expect(parseMvmTiming(`some console noise\n${line}`)).to.deep.equal({
      bootToUserspaceMs: 2342,
      vmmSetupMs: 574,
      kernelInitMs: 1768,
      ranMs: 2559,
    });
    expect(parseMvmTiming('mvm: never signalled boot-complete; ran 812 ms; 3 I/O exits')).to.deep.equal({ ranMs: 812 });
    expect(parseMvmTiming('')).to.deep.equal({});
  });

  it('gives idle instances the same command on both VMMs: the marker, then a sleep', () => {
    const mvm = mvmRunArgs(files, IDLE_COMMAND);
    expect(mvm.slice(mvm.indexOf('--') + 1)).to.deep.equal([...IDLE_COMMAND]);
    expect(IDLE_COMMAND.join(' '))
      .to.include(BENCH_MARKER)
      .and.to.match(/sleep \d+/);
    expect(valueAfter(qemuMicrovmArgs(files, IDLE_COMMAND), '-append')).to.equal(benchCmdline(IDLE_COMMAND));
    expect(benchCmdline(IDLE_COMMAND)).to.not.equal(benchCmdline(MARKER_COMMAND));
  });
});
