// Snapshot and restore as a user runs them: a detached VM counting on its
// console (firmware/guests/count.S, a tiny guest that needs no Linux) is
// snapshotted with `mvm snapshot create --stop`, checked with `mvm snapshot
// inspect`, and restored twice with `mvm run --restore -d`: each clone's
// console goes on from the digit after the last one the original printed.
// A Linux guest with 2 vCPUs and a qcow2 disk, counting on its console and
// onto its disk, is snapshotted and restored twice at once: both clones count
// on, each onto its own overlay, and the snapshot's frozen disk layer keeps
// its bytes (sha256). Through the helper VM on hosts whose KVM cannot run guests.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { openSync } from '../../src/disk/open.js';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const COUNT_GUEST = resolve(PROJECT_ROOT, 'firmware/out/guests/count.elf');
const DIGITS = '0123456789';
const ORIGINAL = `snap-e2e-${process.pid}`;
const CLONES = [`snap-e2e-${process.pid}-a`, `snap-e2e-${process.pid}-b`];
const LINUX = [`snap-e2e-${process.pid}-linux`, `snap-e2e-${process.pid}-linux-a`, `snap-e2e-${process.pid}-linux-b`];
const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
/**
 * A shell loop in the default Linux guest: "half" written to the disk's first
 * sector, then n0, n1, n2… one a second on the console and into the disk's
 * second sector (synced, so the VMM's disk has it).
 */
const LINUX_COUNTER =
  'printf half | dd of=/dev/vda conv=notrunc 2>/dev/null; i=0; while true; do echo n$i; echo n$i | dd of=/dev/vda bs=512 seek=1 conv=notrunc 2>/dev/null; sync; i=$((i+1)); sleep 1; done';
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The first two sectors of a disk image as text up to the first NUL or newline each. */
function diskSectors(path: string): [string, string] {
  const disk = openSync(path, { readOnly: true });
  try {
    const buffer = new Uint8Array(1024);
    disk.readSync(0, buffer);
    const text = (b: Uint8Array): string =>
      Buffer.from(b)
        .toString('latin1')
        .split(/[\0\n]/)[0]!;
    return [text(buffer.subarray(0, 512)), text(buffer.subarray(512))];
  } finally {
    disk.closeSync();
  }
}
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
      // mvm rm -f kills a VM still running and removes it the way users do; a relay may still be removing its files after.
      if (existsSync(vmDir(name))) await runMvm(['rm', '-f', name]);
      rmSync(vmDir(name), { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('snapshots a counting VM and stops it; the snapshot is whole and its memory file sparse', async () => {
    // Jailed (the default): the VMM writes the snapshot inside its VM directory and `mvm snapshot create` moves it to DIR.
    const run = await runMvm(
      [
        'run',
        '-d',
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

  it('a 2-vCPU Linux guest counting onto a qcow2 disk, snapshotted and restored twice at once: both count on, each on its own overlay, the frozen layer unchanged', async () => {
    if (!existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: run \`make images\``);
    const [original, ...clones] = LINUX as [string, string, string];
    const numbers = (name: string): number[] => [...consoleText(name).matchAll(/^n(\d+)\r?$/gm)].map((m) => Number(m[1]));
    const disk = join(root, 'disk.qcow2');
    createQcow2(disk, { size: 8 << 20 });
    const run = await runMvm(['run', '-d', '--name', original, '-m', '128M', '--cpus', '2', '--disk', disk, '--', 'sh', '-c', LINUX_COUNTER], {
      timeoutMs: 240_000,
    });
    expect(run.status, run.stderr).to.equal(0);
    await until(() => numbers(original).length >= 3, 'the Linux counter', 60_000);
    const linuxDir = join(root, 'linux');
    const created = await runMvm(['snapshot', 'create', original, linuxDir, '--stop'], { timeoutMs: 240_000 });
    expect(created.status, created.stderr).to.equal(0);
    await until(() => status(original)?.state === 'exited', 'the Linux original to stop', 60_000);
    const before = numbers(original);
    expect(before).to.deep.equal(before.map((_, i) => i));
    const layer = join(linuxDir, 'disk-0.qcow2');
    expect(statSync(layer).mode & 0o222, 'the frozen layer is read-only').to.equal(0);
    const frozen = sha256(layer);
    const [half, counted] = diskSectors(layer);
    expect(half).to.equal('half');
    // The last number the original synced to its disk: the one it printed last, or the one before.
    expect(Number(counted.slice(1))).to.be.within(before.length - 2, before.length - 1);
    const noAgent = await runMvm(['run', '--restore', linuxDir, '--', 'true']);
    expect(noAgent.status).to.equal(2);
    expect(noAgent.stderr.trim()).to.match(/^mvm: this snapshot has no guest agent waiting for a command/);
    const inspected = await runMvm(['snapshot', 'inspect', linuxDir]);
    expect(inspected.stdout).to.include(`disk 0      ${layer} (frozen layer`);

    const restored = await Promise.all(clones.map((name) => runMvm(['run', '--restore', linuxDir, '-d', '--name', name], { timeoutMs: 240_000 })));
    for (const r of restored) expect(r.status, r.stderr).to.equal(0);
    await until(() => clones.every((name) => numbers(name).length >= 3), 'both restored counters', 90_000);
    // Killing a VM closes its disks (their tables written out), so their overlays can then be read from here.
    for (const name of clones) await runMvm(['kill', name]);
    const overlayCount = (name: string): number => Number(diskSectors(join(vmDir(name), 'overlay-0.qcow2'))[1].slice(1));
    await until(() => clones.every((name) => overlayCount(name) >= before.length + 2), 'both clones to end with their disks closed', 90_000);
    for (const name of clones) {
      const after = numbers(name);
      // It resumed the same shell: the next number, not a new count from 0 (nor a reboot's console lines).
      expect(after.slice(0, 2), name).to.deep.equal([before.length, before.length + 1]);
      // Its writes went to its own overlay on the frozen layer.
      const [ownHalf, ownCount] = diskSectors(join(vmDir(name), 'overlay-0.qcow2'));
      expect(ownHalf, name).to.equal('half');
      expect(Number(ownCount.slice(1)), name).to.be.at.least(before.length + 2);
    }
    expect(sha256(layer), 'the frozen layer after two clones wrote on it').to.equal(frozen);
  });

  it('a template made with --snapshot-after-boot runs a command per restore: its output, its exit status, the host clock', async () => {
    if (!existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: run \`make images\``);
    const template = join(root, 'template');
    const made = await runMvm(['run', '-m', '128M', '--snapshot-after-boot', template], { timeoutMs: 240_000 });
    expect(made.status, made.stderr).to.equal(0);
    expect(made.stderr).to.include(`template snapshot written to ${template}`);
    const startedS = Date.now() / 1000;
    const ran = await runMvm(['run', '--restore', template, '--', 'sh', '-c', 'echo "hello from $(hostname)"; date +%s; exit 7'], {
      timeoutMs: 240_000,
    });
    const endedS = Date.now() / 1000;
    expect(ran.status, ran.stderr).to.equal(7);
    expect(ran.stdout).to.include('hello from mvm');
    const clock = Number(/^(\d{9,})\r?$/m.exec(ran.stdout)?.[1]);
    // The guest's clock was set from the host's at resume, not left where the template stopped.
    expect(clock).to.be.within(Math.floor(startedS) - 1, Math.ceil(endedS) + 1);
    const refused = await runMvm(['run', '--restore', template, '-d', '--', 'true']);
    expect(refused.status).to.equal(2);
    expect(refused.stderr.trim()).to.equal('mvm: --restore with a command runs it in the foreground: it cannot be used with -d');
  });
});
