// Snapshot and restore as a user runs them: a detached VM counting on its
// console (firmware/guests/count.S, a tiny guest that needs no Linux) is
// snapshotted with `mvm snapshot create --stop`, checked with `mvm snapshot
// inspect`, and restored twice with `mvm run --restore -d`: each clone's
// console goes on from the digit after the last one the original printed.
// Through the helper VM on hosts whose KVM cannot run guests.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const COUNT_GUEST = resolve(PROJECT_ROOT, 'firmware/out/guests/count.elf');
const DIGITS = '0123456789';
const ORIGINAL = `snap-e2e-${process.pid}`;
const CLONES = [`snap-e2e-${process.pid}-a`, `snap-e2e-${process.pid}-b`];
const LINUX = [`snap-e2e-${process.pid}-linux`, `snap-e2e-${process.pid}-linux-clone`];
const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
/** A shell loop in the default Linux guest: n0, n1, n2… one a second on the console. */
const LINUX_COUNTER = 'i=0; while true; do echo n$i; i=$((i+1)); sleep 1; done';
const POLL_MS = 200;

async function until(condition: () => boolean, what: string, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const status = (name: string): VmStatus | null => readJsonFile<VmStatus>(vmFile(name, 'status'));
const consoleText = (name: string): string => (existsSync(vmFile(name, 'console')) ? readFileSync(vmFile(name, 'console'), 'latin1') : '');
const digitsFrom = (first: number, length: number): string => DIGITS.repeat(Math.ceil((first + length) / 10) + 1).slice(first, first + length);

describe('mvm snapshot create / inspect and mvm run --restore, end to end', function () {
  // Node's start inside the helper VM costs seconds per command under emulation.
  this.timeout(600_000);
  let root: string;
  let dir: string;

  before(() => {
    if (!existsSync(COUNT_GUEST)) throw new Error(`${COUNT_GUEST} is missing: run \`make guests\``);
    root = mkdtempSync(join(tmpdir(), 'mvm-snapshot-e2e-'));
    dir = join(root, 'snap');
  });

  after(async () => {
    for (const name of [ORIGINAL, ...CLONES, ...LINUX]) {
      const last = status(name);
      if (last && (last.state === 'running' || last.state === 'starting' || last.state === 'stopping')) await runMvm(['kill', name]);
      rmSync(vmDir(name), { recursive: true, force: true });
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('snapshots a counting VM and stops it; the snapshot is whole and its memory file sparse', async () => {
    // A jailed VMM cannot write outside its VM directory, so the snapshotted VMs run unjailed (issue #17); their clones are jailed.
    const run = await runMvm(
      [
        'run',
        '-d',
        '--no-jail',
        '--name',
        ORIGINAL,
        '--kernel',
        COUNT_GUEST,
        '--initrd',
        '',
        '--no-rng',
        '--console',
        'serial',
        '--boot-args',
        'console=ttyS0',
        '-m',
        '64M',
      ],
      { timeoutMs: 240_000 },
    );
    expect(run.status, run.stderr).to.equal(0);
    await until(() => consoleText(ORIGINAL).length >= 20, 'the original to count', 60_000);

    const refused = await runMvm(['snapshot', 'create', ORIGINAL, PROJECT_ROOT]);
    expect(refused.status).to.equal(1);
    expect(refused.stderr.trim()).to.match(/^mvm: cannot snapshot VM .*: .* is not empty/);

    const created = await runMvm(['snapshot', 'create', ORIGINAL, dir, '--stop'], { timeoutMs: 240_000 });
    expect(created.status, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/of guest RAM written .* then stopped/);
    await until(() => status(ORIGINAL)?.state === 'exited', 'the original to stop', 60_000);
    // 64 MiB of RAM of which the tiny guest touched a few pages.
    expect(statSync(join(dir, 'memory.bin')).size).to.equal(64 << 20);
    expect(statSync(join(dir, 'memory.bin')).blocks * 512).to.be.below(1 << 20);

    const inspected = await runMvm(['snapshot', 'inspect', dir]);
    expect(inspected.status, inspected.stderr).to.equal(0);
    expect(inspected.stdout).to.include('1 vCPU, 64 MiB RAM').and.include(COUNT_GUEST);
  });

  it('two VMs restored from it each go on counting from the digit after the last one the original printed', async () => {
    const printed = consoleText(ORIGINAL);
    expect(printed).to.equal(digitsFrom(0, printed.length));
    // Both at once: clones of one snapshot share its memory file.
    const runs = await Promise.all(CLONES.map((name) => runMvm(['run', '--restore', dir, '-d', '--name', name], { timeoutMs: 240_000 })));
    runs.forEach((run, i) => {
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout.trim()).to.equal(CLONES[i]);
    });
    await until(() => CLONES.every((name) => consoleText(name).length >= 10), 'both clones to count', 60_000);
    for (const name of CLONES) {
      const text = consoleText(name);
      expect(text, name).to.equal(digitsFrom(printed.length % 10, text.length));
      expect(status(name)?.state).to.equal('running');
    }
  });

  it('refuses options that describe another machine, and directories that hold no snapshot, before starting anything', async () => {
    const other = await runMvm(['run', '--restore', dir, '--cpus', '2']);
    expect(other.status).to.equal(2);
    expect(other.stderr.trim()).to.equal('mvm: --restore takes the machine from the snapshot: --cpus cannot be used with it');
    const none = await runMvm(['run', '--restore', root]);
    expect(none.status).to.equal(1);
    expect(none.stderr.trim()).to.match(/^mvm: .* holds no snapshot \(no state\.mvm/);
  });

  it('a Linux guest running a shell counter, snapshotted and restored, goes on with the next number', async () => {
    if (!existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: run \`make images\``);
    const [original, clone] = LINUX as [string, string];
    const numbers = (name: string): number[] => [...consoleText(name).matchAll(/^n(\d+)\r?$/gm)].map((m) => Number(m[1]));
    const run = await runMvm(['run', '-d', '--no-jail', '--name', original, '-m', '128M', '--', 'sh', '-c', LINUX_COUNTER], { timeoutMs: 240_000 });
    expect(run.status, run.stderr).to.equal(0);
    await until(() => numbers(original).length >= 3, 'the Linux counter', 60_000);
    const linuxDir = join(root, 'linux');
    const created = await runMvm(['snapshot', 'create', original, linuxDir, '--stop'], { timeoutMs: 240_000 });
    expect(created.status, created.stderr).to.equal(0);
    await until(() => status(original)?.state === 'exited', 'the Linux original to stop', 60_000);
    const before = numbers(original);
    expect(before).to.deep.equal(before.map((_, i) => i));

    const restored = await runMvm(['run', '--restore', linuxDir, '-d', '--name', clone], { timeoutMs: 240_000 });
    expect(restored.status, restored.stderr).to.equal(0);
    await until(() => numbers(clone).length >= 2, 'the restored counter', 60_000);
    const after = numbers(clone);
    // It resumed the same shell: the next number, not a new count from 0 (nor a reboot's console lines).
    expect(after.slice(0, 2)).to.deep.equal([before.length, before.length + 1]);
    await runMvm(['kill', clone]);
  });
});
