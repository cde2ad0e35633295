// The boot benchmark compares like with like: mvm and QEMU microvm get the
// same kernel, initramfs, memory, vCPUs and kernel command line; and the
// results crossing the helper-VM boundary are validated.
import { expect } from 'chai';
import { BENCH_BOOT_ARGS, BENCH_MARKER, benchCmdline, mvmRunArgs, parseMvmTiming, qemuMicrovmArgs } from '../../src/bench/boot/contenders.js';
import { parseBootSamples, parseMeasureArgs } from '../../src/bench/boot/samples.js';
import { DEFAULT_BOOT_ARGS, commandParameter } from '../../src/vmm/default-cmdline.js';

const files = { kernel: '/k/vmlinux', initrd: '/k/initrd.gz' };
const after = (args: readonly string[], flag: string) => args[args.indexOf(flag) + 1];

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
    expect(after(qemu, '-append')).to.equal(`${after(mvm, '--boot-args')} ${commandParameter(guestCommand)}`);
    expect(after(qemu, '-append')).to.equal(benchCmdline());
  });

  it('boots the same files with the same memory and vCPU count, QEMU on KVM exiting at the reset', () => {
    const mvm = mvmRunArgs(files);
    const qemu = qemuMicrovmArgs(files);
    expect([after(mvm, '--kernel'), after(mvm, '--initrd')]).to.deep.equal([after(qemu, '-kernel'), after(qemu, '-initrd')]);
    expect(after(mvm, '--memory')).to.equal(`${after(qemu, '-m')}M`);
    expect(after(mvm, '--cpus')).to.equal(after(qemu, '-smp'));
    expect(after(qemu, '-accel')).to.equal('kvm');
    expect(after(qemu, '-M')).to.match(/^microvm/);
    expect(qemu).to.include('-no-reboot');
    expect(mvm).to.include('--timing');
  });

  it("reads mvm's --timing line, leaving out what it does not print", () => {
    const line = 'mvm: boot to userspace 2342 ms (VMM setup 574 ms, kernel + init 1768 ms); ran 2559 ms; 142 I/O exits\n';
    expect(parseMvmTiming(`some console noise\n${line}`)).to.deep.equal({ bootToUserspaceMs: 2342, vmmSetupMs: 574, kernelInitMs: 1768, ranMs: 2559 });
    expect(parseMvmTiming('mvm: never signalled boot-complete; ran 812 ms; 3 I/O exits')).to.deep.equal({ ranMs: 812 });
    expect(parseMvmTiming('')).to.deep.equal({});
  });

  it('accepts a well-formed samples line and refuses counts, fields or JSON that do not add up', () => {
    const good = { runs: 1, mvm: [{ wallMs: 3, markerMs: 2, vmmSetupMs: 1 }], qemu: [{ wallMs: 4, markerMs: 3 }], cliLoadMs: [1] };
    expect(parseBootSamples(`progress\n${JSON.stringify(good)}\n`)).to.deep.equal(good);
    expect(() => parseBootSamples(JSON.stringify({ ...good, runs: 2 }))).to.throw(/malformed/);
    expect(() => parseBootSamples(JSON.stringify({ ...good, qemu: [{ wallMs: -1, markerMs: 3 }] }))).to.throw(/malformed/);
    expect(() => parseBootSamples(JSON.stringify({ ...good, mvm: [{ wallMs: 3, markerMs: 2, vmmSetupMs: 'x' }] }))).to.throw(/malformed/);
    expect(() => parseBootSamples('Error: something broke')).to.throw(/no result line/);
  });

  it('parses the measuring script arguments and refuses a bad run count', () => {
    expect(parseMeasureArgs(['--runs', '10', '--kernel', 'k', '--initrd', 'i'])).to.deep.equal({ runs: 10, files: { kernel: 'k', initrd: 'i' } });
    expect(() => parseMeasureArgs(['--runs', '0', '--kernel', 'k', '--initrd', 'i'])).to.throw(/--runs/);
    expect(() => parseMeasureArgs(['--runs', '3', '--kernel', 'k'])).to.throw(/--initrd/);
  });
});
