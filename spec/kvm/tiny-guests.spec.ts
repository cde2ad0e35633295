// Boots the tiny guests from firmware/guests through the real `mvm run`, so
// the whole VMM path is exercised: ELF loading, the 64-bit boot state, vCPU
// threads, the exit mailbox, the buses and devices. They run directly on this
// host's /dev/kvm when it has one (they need nothing PVM's emulator lacks),
// and inside the helper VM's KVM when it has none, so the KVM layer is tested
// on every machine.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { detectHostKvm } from '../../src/helper/host-kvm.js';
import { PROJECT_ROOT, kvmUnavailableReason, runMvm } from '../helpers/mvm-cli.js';

const GUESTS = resolve(PROJECT_ROOT, 'firmware/out/guests');
/** On the host's own KVM whatever kind it is; in the helper VM only when the host has no usable /dev/kvm. */
const where = kvmUnavailableReason() === undefined ? { MVM_HELPER: 'never' } : { MVM_HELPER: 'always' };
/** The helper VM's CPU is an emulated EPYC with AMD-V; on the host, hardware KVM on an svm CPU. */
const onAmdV = where.MVM_HELPER === 'always' || (detectHostKvm().kind === 'hardware' && detectHostKvm().cpuFeature === 'svm');

function guest(name: string): string {
  const path = resolve(GUESTS, `${name}.elf`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make guests\``);
  return path;
}

function boot(name: string, extra: string[] = [], input?: string) {
  // No virtio devices (--no-rng, --console serial): the tiny guests drive the
  // UART only, and the hello guest echoes its exact command line.
  return runMvm(['run', '--kernel', guest(name), '--initrd', '', '--no-rng', '--console', 'serial', ...extra], {
    env: where,
    timeoutMs: where.MVM_HELPER === 'never' ? 60_000 : 280_000,
    ...(input !== undefined ? { input, inputDelayMs: 200 } : {}),
  });
}

describe(`tiny guests on ${where.MVM_HELPER === 'never' ? "this host's" : "the helper VM's"} /dev/kvm`, function () {
  // Inside the helper a request waits for a free emulated CPU and, the first time, for the helper's boot.
  this.timeout(where.MVM_HELPER === 'never' ? 60_000 : 300_000);

  it('prints through the UART, reads its command line, signals boot and powers off with its status', async () => {
    const result = await boot('hello', ['--boot-args', 'console=ttyS0 mvm.test=yes', '--timing']);
    expect(result.stdout).to.equal('hello from the tiny guest; cmdline: console=ttyS0 mvm.test=yes\n');
    expect(result.status).to.equal(42);
    expect(result.stderr).to.match(/boot to userspace \d+ ms/);
  });

  it('takes the UART interrupt through the in-kernel PIC when input arrives', async () => {
    const result = await boot('irq', ['--interactive'], 'Z');
    expect(result.stdout).to.equal('ready for input\ninterrupt: got Z\n');
    expect(result.status).to.equal('Z'.charCodeAt(0));
  });

  it('runs two vCPUs at once: the second starts by INIT/SIPI and counts while the first watches', async () => {
    const result = await boot('smp', ['--cpus', '2']);
    expect(result.stdout).to.equal('second vCPU is running alongside the first\n');
    expect(result.status).to.equal(0);
  });

  it('explains a guest crash with the exit, RIP, instruction bytes and the last console lines', async () => {
    const result = await boot('crash');
    expect(result.status).to.equal(125);
    expect(result.stderr).to.include('triple-faulted');
    // Intel VT-x and PVM keep the failing state; AMD-V (the helper VM's nested SVM) resets the
    // vCPU on a shutdown, and then the report must say that the location is lost.
    if (onAmdV) expect(result.stderr).to.include('RIP unknown: KVM reset the vCPU when it shut down');
    else expect(result.stderr).to.match(/RIP 0x10[0-9a-f]+, instruction bytes 0f 0b/);
    expect(result.stderr).to.include('| about to crash');
    expect(result.stderr).not.to.match(/\n\s+at .*\.js:\d+/);
  });
});
