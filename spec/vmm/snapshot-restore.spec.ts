// A running machine snapshotted to a directory and restored, twice, into new
// machines in the same process: each copy goes on counting from the digit
// after the last one printed before the snapshot, while the original goes on
// too. On a real KVM: this host's or the helper VM's.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSnapshot } from '../../src/snapshot/snapshot-dir.js';
import { Machine, type MachineEvents } from '../../src/vmm/machine.js';
import { takeSnapshot } from '../../src/vmm/take-snapshot.js';
import { describeWithKvm } from '../helpers/kvm-in-helper.js';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const COUNT_GUEST = resolve(PROJECT_ROOT, 'firmware/out/guests/count.elf');
const DIGITS = '0123456789';
const MEMORY_BYTES = 32 << 20;

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

/** A machine's console output and how it ended. */
class Watched {
  readonly output: number[] = [];
  bootCompletes = 0;
  fatal: string[] | undefined;
  readonly events: MachineEvents = {
    consoleOutput: (bytes) => this.output.push(...bytes),
    bootComplete: () => {
      this.bootCompletes++;
    },
    powerOff: () => undefined,
    fatal: (lines) => {
      this.fatal = lines;
    },
    halted: () => undefined,
  };
  get text(): string {
    return Buffer.from(this.output).toString('latin1');
  }
}

/** The count guest's output from digit `first` on, `length` long. */
function digitsFrom(first: number, length: number): string {
  return DIGITS.repeat(Math.ceil((length + first) / DIGITS.length) + 1).slice(first, first + length);
}

describeWithKvm(import.meta.url, 'snapshot and restore of a running machine', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-snapshot-restore-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('two machines restored from one snapshot each go on counting from where it was taken; the memory file is sparse', async () => {
    if (!existsSync(COUNT_GUEST)) throw new Error(`${COUNT_GUEST} is missing: run \`make guests\``);
    const original = new Watched();
    const machine = Machine.create(
      { kernel: readFileSync(COUNT_GUEST), cmdline: 'console=ttyS0', memoryBytes: MEMORY_BYTES, cpus: 1 },
      original.events,
    );
    machine.start();
    await until('the first digits', () => original.output.length >= 5);

    const snapshotDir = join(dir, 'snap');
    const taken = await takeSnapshot(machine, snapshotDir, { resume: false });
    // What the guest had printed when it was paused (still paused: nothing more can come).
    const printedAtSnapshot = original.output.length;
    expect(taken.pausedToResumedMs).to.equal(0);
    machine.resume();
    expect(taken.memoryDataBytes).to.be.greaterThan(0);
    // A tiny guest touches a few pages of its 32 MiB: the file's data and its blocks on disk stay small.
    expect(taken.memoryDataBytes).to.be.below(MEMORY_BYTES / 8);
    expect(taken.memoryAllocatedBytes).to.be.below(MEMORY_BYTES / 8);
    expect(statSync(join(snapshotDir, 'memory.bin')).size).to.equal(MEMORY_BYTES);

    const snapshot = readSnapshot(snapshotDir);
    expect(snapshot.state.machine).to.include({ memoryBytes: MEMORY_BYTES, cpus: 1 });
    const clones = [new Watched(), new Watched()];
    const restored = clones.map((clone) => Machine.restore(snapshot, [], clone.events));
    for (const m of restored) m.start();
    await until('digits from both clones', () => clones.every((c) => c.output.length >= 15));
    await until('more digits from the original', () => original.output.length >= printedAtSnapshot + 5);

    for (const clone of clones) {
      // The copy prints exactly the digits that come after the snapshot's last one: none lost, none repeated.
      expect(clone.text).to.equal(digitsFrom(printedAtSnapshot % 10, clone.text.length));
    }
    expect(original.text).to.equal(digitsFrom(0, original.text.length));
    // The copies resumed; they did not boot again (the guest signals boot complete once, before counting).
    expect([original.bootCompletes, ...clones.map((c) => c.bootCompletes)]).to.deep.equal([1, 0, 0]);

    for (const m of [machine, ...restored]) m.requestGuestStop();
    await until('every machine to end', () => [original, ...clones].every((w) => w.fatal !== undefined));
  });

  it('refuses to restore with other devices than the snapshot had, before building anything', async () => {
    const snapshot = readSnapshot(join(dir, 'snap'));
    const rng = { deviceType: 4, name: 'virtio-rng' } as unknown as Parameters<typeof Machine.restore>[1][number];
    expect(() => Machine.restore(snapshot, [rng], new Watched().events)).to.throw(/the snapshot has virtio devices \[\], this VM \[virtio-rng\]/);
  });
});
