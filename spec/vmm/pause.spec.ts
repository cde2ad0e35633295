// Pausing a running Machine for a snapshot (src/vmm/pause-control.ts,
// vcpu-park.ts): a guest counting on the UART stops counting while paused,
// its KVM state can be read then, and it goes on without losing or
// repeating a digit once resumed. On a real KVM: this host's or the helper VM's.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MpState } from '../../src/kvm/ioctls.js';
import { decodeRegs } from '../../src/kvm/structs.js';
import { Machine } from '../../src/vmm/machine.js';
import { PauseRefusedError } from '../../src/vmm/pause-control.js';
import { describeWithKvm } from '../helpers/kvm-in-helper.js';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const COUNT_GUEST = resolve(PROJECT_ROOT, 'firmware/out/guests/count.elf');
const DIGITS = '0123456789';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describeWithKvm(import.meta.url, 'pausing a running machine', function () {
  this.timeout(90_000);

  it('parks the vCPU with its last port write done, reads its KVM state, and resumes it twice without losing or repeating a digit', async () => {
    if (!existsSync(COUNT_GUEST)) throw new Error(`${COUNT_GUEST} is missing: run \`make guests\``);
    const output: number[] = [];
    let fatal: string[] | undefined;
    const machine = Machine.create(
      { kernel: readFileSync(COUNT_GUEST), cmdline: 'console=ttyS0', memoryBytes: 32 << 20, cpus: 1 },
      {
        consoleOutput: (bytes) => output.push(...bytes),
        bootComplete: () => undefined,
        powerOff: () => undefined,
        fatal: (lines) => {
          fatal = lines;
        },
        halted: () => undefined,
      },
    );
    machine.start();
    await until('the first digits', () => output.length >= 5);

    expect(() => machine.saveKvmState()).to.throw(/paused/);
    for (let round = 0; round < 2; round++) {
      const before = output.length;
      await machine.pause();
      const atPause = output.length;
      expect((await refusal(machine.pause())) instanceof PauseRefusedError).to.equal(true);
      await sleep(500);
      expect(output.length, 'digits printed while paused').to.equal(atPause);

      const state = machine.saveKvmState();
      expect(state.vcpus).to.have.length(1);
      expect(state.vcpus[0]!.mpState).to.equal(MpState.RUNNABLE);
      expect(decodeRegs(state.vcpus[0]!.regs).rip > 0n).to.equal(true);
      expect(state.vcpus[0]!.msrs.length).to.be.greaterThan(10);
      expect(state.vm.clockNs > 0n).to.equal(true);

      machine.resume();
      await until('digits after the resume', () => output.length >= Math.max(before, atPause) + 5);
    }
    machine.requestGuestStop();
    await until('the guest to end', () => fatal !== undefined);
    const text = Buffer.from(output).toString('latin1');
    expect(text).to.equal(DIGITS.repeat(Math.ceil(text.length / DIGITS.length)).slice(0, text.length));
    expect(fatal!.join('\n')).to.match(/triple|shut ?down/i);
    expect((await refusal(machine.pause())) instanceof PauseRefusedError).to.equal(true);
  });
});
