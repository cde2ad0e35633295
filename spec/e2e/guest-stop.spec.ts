// Every way a guest can stop itself ends `mvm run`, with the exit status the
// README's table gives for it (README: "Exit statuses"). One boot per way,
// end to end as a user runs it (through the helper VM on hosts whose KVM
// cannot run Linux). The commands that stop the guest are followed by a long
// sleep where the guest would otherwise run on, so a VM that did not end
// would hit the spec's timeout instead of passing by its command ending.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PROJECT_ROOT, runMvm, type CliResult } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
const GUESTS = resolve(PROJECT_ROOT, 'firmware/out/guests');
/** Far longer than any boot here: a VM still running after it would fail the spec by its timeout. */
const LINGER = 'sleep 600';
/** Generous: a boot inside the helper VM under a loaded host takes 10-30 s, a cold helper 15 s more. */
const RUN_TIMEOUT_MS = 240_000;

/** Runs `script` as the guest's command. */
function guest(script: string, options: string[] = []): Promise<CliResult> {
  return runMvm(['run', ...options, '--', 'sh', '-c', script], { timeoutMs: RUN_TIMEOUT_MS });
}

function tinyGuest(name: string, options: string[] = []): Promise<CliResult> {
  const path = resolve(GUESTS, `${name}.elf`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make guests\``);
  return runMvm(['run', '--kernel', path, '--initrd', '', '--no-rng', '--console', 'serial', ...options], { timeoutMs: RUN_TIMEOUT_MS });
}

describe('every way a guest stops ends mvm run with its status', function () {
  this.timeout(RUN_TIMEOUT_MS + 30_000);

  before(() => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
  });

  describe("through mvm's init: status 0", () => {
    for (const command of ['poweroff', 'halt', 'reboot']) {
      it(`${command}`, async () => {
        const result = await guest(`echo before; ${command}; ${LINGER}`);
        expect(result.stdout).to.include('before');
        expect(result.status, result.stderr).to.equal(0);
      });
    }
  });

  describe('the kernel halts the machine: status 122, "halted"', () => {
    // Without a power-off device Linux turns poweroff -f into a halt.
    for (const command of ['poweroff -f', 'halt -f']) {
      it(`${command}`, async () => {
        const result = await guest(`echo before; ${command}; ${LINGER}`);
        expect(result.stdout).to.include('before');
        expect(result.status, result.stderr).to.equal(122);
        expect(result.stderr).to.match(/^mvm: the guest kernel halted the machine/m);
      });
    }

    it('halt -f with two vCPUs (the second one is stopped by the first)', async () => {
      const result = await guest(`nproc; halt -f; ${LINGER}`, ['--cpus', '2']);
      expect(result.stdout).to.match(/^2\s*$/m);
      expect(result.status, result.stderr).to.equal(122);
    });
  });

  describe('the machine is reset: status 0', () => {
    it('reboot -f (i8042 reset)', async () => {
      const result = await guest(`echo before; reboot -f; ${LINGER}`);
      expect(result.stdout).to.include('before');
      expect(result.status, result.stderr).to.equal(0);
    });

    it('echo b > /proc/sysrq-trigger', async () => {
      const result = await guest(`echo before; echo b > /proc/sysrq-trigger; ${LINGER}`);
      expect(result.stdout).to.include('before');
      expect(result.status, result.stderr).to.equal(0);
    });
  });

  it('echo o > /proc/sysrq-trigger: the kernel\'s "Power down" ends the VM with status 0 (the kernel itself would run on)', async () => {
    const result = await guest(`echo before; echo o > /proc/sysrq-trigger; ${LINGER}`);
    expect(result.stdout).to.include('before');
    expect(result.status, result.stderr).to.equal(0);
  });

  describe('the kernel panics: status 123 with the panic line', () => {
    it('echo c > /proc/sysrq-trigger', async () => {
      const result = await guest(`echo c > /proc/sysrq-trigger; ${LINGER}`);
      expect(result.status, result.stderr).to.equal(123);
      expect(result.stderr).to.match(/^mvm: the guest kernel panicked$/m);
      expect(result.stderr).to.match(/\| .*Kernel panic - not syncing: sysrq triggered crash/);
    });

    it('PID 1 exits', async () => {
      const result = await runMvm(['run', '--append', 'rdinit=/bin/true', '--', 'true'], { timeoutMs: RUN_TIMEOUT_MS });
      expect(result.status, result.stderr).to.equal(123);
      expect(result.stderr).to.match(/\| .*Kernel panic - not syncing: Attempted to kill init!/);
    });
  });

  it('a triple fault (reboot=t resets by one): status 125 with the crash report', async () => {
    const result = await guest(`reboot -f; ${LINGER}`, ['--append', 'reboot=t']);
    expect(result.status, result.stderr).to.equal(125);
    expect(result.stderr).to.include('triple-faulted');
    // Where it failed, or (on AMD-V, whose KVM resets a vCPU that shut down) that this is lost.
    expect(result.stderr).to.match(/RIP 0x[0-9a-f]+|RIP unknown: KVM reset the vCPU/);
  });

  it("the command's own status N ends the VM with N", async () => {
    const result = await guest('echo done; exit 42');
    expect(result.stdout).to.include('done');
    expect(result.status, result.stderr).to.equal(42);
  });

  describe('every vCPU halted with interrupts disabled, in a guest that says nothing: status 122', () => {
    for (const cpus of ['1', '2']) {
      it(`the tiny halt guest with ${cpus} vCPU(s)`, async () => {
        const result = await tinyGuest('halt', ['--cpus', cpus]);
        expect(result.stdout).to.equal('halting with interrupts off\n');
        expect(result.status, result.stderr).to.equal(122);
        expect(result.stderr).to.include('halted with interrupts disabled: it can never run again');
        expect(result.stderr).to.include('| halting with interrupts off');
      });
    }

    it('but not a guest halted with interrupts enabled, waiting seconds for its input', async () => {
      const path = resolve(GUESTS, 'irq.elf');
      const result = await runMvm(['run', '--kernel', path, '--initrd', '', '--no-rng', '--console', 'serial', '--interactive'], {
        // Long enough for several rounds of the watchdog (300 ms each) once the guest has booted.
        input: 'Z',
        inputDelayMs: 20_000,
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(result.stdout).to.equal('ready for input\ninterrupt: got Z\n');
      expect(result.status, result.stderr).to.equal('Z'.charCodeAt(0));
    });
  });
});
