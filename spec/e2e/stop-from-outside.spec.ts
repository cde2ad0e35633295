// `mvm run` stopped from outside always ends its VM: SIGTERM, SIGHUP, SIGINT
// without a terminal, SIGKILL, its parent dying, and a wedged guest. Each
// case checks that the VMM process is gone where it ran - on this host, or
// inside the helper VM (found with `ps`-like listing there through `mvm
// helper exec`): a VMM is any process holding a KVM VM file descriptor.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MVM_BIN, PROJECT_ROOT } from '../helpers/mvm-cli.js';
import { vmmPids, vmmsRunInHelper as viaHelper, waitForVmmsGone } from '../helpers/vmm-processes.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
const SPIN_GUEST = resolve(PROJECT_ROOT, 'firmware/out/guests/spin.elf');
/** A boot in the helper under a loaded host: 10-30 s, plus a cold helper. */
const READY_TIMEOUT_MS = 240_000;
/** How long a stopped mvm and its VMM get to go (they take well under a second; the helper's hang-up grace is 5 s). */
const GONE_TIMEOUT_MS = 60_000;
const POLL_MS = 500;

interface Started {
  readonly child: ChildProcess;
  output(): string;
  readonly closed: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `argv` (node, sh…) with pipes and resolves once its stdout shows `ready`. */
async function start(argv: readonly string[], ready: string): Promise<Started> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const closed = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (status, signal) => r({ status, signal })),
  );
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stdout.includes(ready)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`never saw "${ready}"; stdout: ${stdout}\nstderr: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return { child, output: () => `stdout: ${stdout}\nstderr: ${stderr}`, closed };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

function expectVmmsGone(pids: readonly number[]): Promise<void> {
  return waitForVmmsGone(pids, GONE_TIMEOUT_MS);
}

/** The VMMs that appeared since `before`: exactly one, the one this case started. */
async function newVmms(before: Set<number>): Promise<number[]> {
  const added = [...(await vmmPids())].filter((p) => !before.has(p));
  expect(added, 'the VMM of the VM just started').to.have.length(1);
  return added;
}

/** Running, not just a zombie waiting for whoever inherited it to reap it. */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleepingGuest = [process.execPath, MVM_BIN, 'run', '--', 'sh', '-c', 'echo guest-ready; sleep 600'];

describe(`mvm run stopped from outside ends its VM (${viaHelper ? 'VMMs inside the helper VM' : 'VMMs on this host'})`, function () {
  this.timeout(READY_TIMEOUT_MS + 3 * GONE_TIMEOUT_MS);

  before(() => {
    for (const file of [KERNEL, INITRD, SPIN_GUEST]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images, make guests)`);
    }
  });

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal}${signal === 'SIGINT' ? ' without a terminal' : ''}: exits ${status}, no VMM left`, async () => {
      const before = await vmmPids();
      const run = await start(sleepingGuest, 'guest-ready');
      const vmms = await newVmms(before);
      run.child.kill(signal);
      const end = await within(run.closed, GONE_TIMEOUT_MS, `mvm to exit after ${signal}`);
      expect(end.status, run.output()).to.equal(status);
      await expectVmmsGone(vmms);
    });
  }

  it('SIGKILL: mvm cannot clean up, yet no VMM is left', async () => {
    const before = await vmmPids();
    const run = await start(sleepingGuest, 'guest-ready');
    const vmms = await newVmms(before);
    run.child.kill('SIGKILL');
    await within(run.closed, GONE_TIMEOUT_MS, 'mvm to die');
    await expectVmmsGone(vmms);
  });

  it('its parent dying: mvm gets SIGHUP and ends the VM', async () => {
    const before = await vmmPids();
    // A shell parent that is killed outright (no chance to pass anything on); mvm's pid comes first.
    const script = `"${process.execPath}" "${MVM_BIN}" run -- sh -c 'echo guest-ready; sleep 600' & echo "mvm-pid $!"; wait`;
    const parent = await start(['sh', '-c', script], 'guest-ready');
    const mvmPid = Number(/mvm-pid (\d+)/.exec(parent.output())![1]);
    const vmms = await newVmms(before);
    parent.child.kill('SIGKILL');
    // mvm's stdout is the pipe the parent handed down: it closes when mvm exits.
    await within(parent.closed, GONE_TIMEOUT_MS, 'mvm to exit after its parent died');
    expect(pidAlive(mvmPid), 'mvm itself').to.equal(false);
    await expectVmmsGone(vmms);
  });

  it('a wedged guest (spinning with interrupts off) still ends on SIGTERM', async () => {
    const before = await vmmPids();
    const run = await start(
      [process.execPath, MVM_BIN, 'run', '--kernel', SPIN_GUEST, '--initrd', '', '--no-rng', '--console', 'serial'],
      'spinning with interrupts off',
    );
    const vmms = await newVmms(before);
    run.child.kill('SIGTERM');
    const end = await within(run.closed, GONE_TIMEOUT_MS, 'mvm to exit after SIGTERM');
    expect(end.status, run.output()).to.equal(143);
    await expectVmmsGone(vmms);
  });
});
