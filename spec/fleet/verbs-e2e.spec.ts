// The fleet verbs end to end (issue #5): three detached VMs started with
// `mvm run -d` (inside the helper VM on hosts whose KVM cannot run Linux
// guests), listed by `mvm ps --json`, one stopped gracefully, one killed, one
// whose VMM is SIGKILLed and then reported dead, all removed with `mvm rm`.
// The API answers `curl --unix-socket`; another uid is refused. The three VMs
// are booted once and shared by every assertion, in order. They run in the
// shared runtime root and helper VM (a private helper would cost a cold start
// and its memory), under names no one else uses.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { VmInspection } from '../../src/fleet/inspect.js';
import type { PsRow } from '../../src/fleet/ps-table.js';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { MVM_BIN, PROJECT_ROOT, runMvm, type CliResult } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
const ROOT_DISK = resolve(PROJECT_ROOT, 'images/out/rootfs.qcow2');
/** Small guests: three of them share the helper VM's memory. */
const GUEST_MEMORY = '128M';
/** The nobody user: any uid that is not ours would do. */
const OTHER_UID = 65534;
const ESCAPE = '\x1d';
/** The guest polls the stop register once a second; shutting down takes a few more under emulation. */
const STOP_TIMEOUT_SECONDS = 60;
/** What the guest's init prints when it acts on a stop request (firmware/init). */
const GUEST_STOP_LINE = 'mvm-init: the host asked the VM to stop; powering off';
const POLL_MS = 250;
/** Unique per run: the VMs live in the shared runtime root (and helper VM), beside anyone else's. */
const STOPPED_NAME = `verbs-e2e-stop-${process.pid}`;
const KILLED_NAME = `verbs-e2e-kill-${process.pid}`;
const DIED_NAME = `verbs-e2e-died-${process.pid}`;
const MINE = [STOPPED_NAME, KILLED_NAME, DIED_NAME];
/** Three boots at once in the emulated helper VM on a loaded machine can take minutes. */
const RUN_DETACHED_TIMEOUT_MS = 400_000;

async function until(condition: () => boolean, what: string, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function ok(result: CliResult, what: string): CliResult {
  expect(result.status, `${what}: ${result.stderr}`).to.equal(0);
  return result;
}

describe('fleet verbs end to end: run -d, ps, stop, kill, rm, console, dead VMMs, the API socket', function () {
  // A cold private helper VM ~20 s, each detached boot 5-30 s under load.
  this.timeout(600_000);
  let started = false;
  const mvm = (args: string[], timeoutMs?: number): Promise<CliResult> => runMvm(args, timeoutMs ? { timeoutMs } : {});
  const socketOf = (name: string): string => vmFile(name, 'api');
  const statusOf = (name: string): VmStatus => readJsonFile<VmStatus>(vmFile(name, 'status'))!;
  const ps = async (all = false): Promise<Map<string, PsRow>> => {
    const rows = JSON.parse(ok(await mvm(['ps', ...(all ? ['-a'] : []), '--json']), 'mvm ps').stdout) as PsRow[];
    return new Map(rows.map((row) => [row.name, row]));
  };

  before(async () => {
    for (const file of [KERNEL, INITRD, ROOT_DISK]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    started = true;
    // One of them with a disk, to see its throw-away overlay made and removed.
    const results = await Promise.all(
      MINE.map((name) =>
        mvm(['run', '-d', '--name', name, '-m', GUEST_MEMORY, ...(name === DIED_NAME ? ['--disk', ROOT_DISK] : [])], RUN_DETACHED_TIMEOUT_MS),
      ),
    );
    results.forEach((result, i) => {
      expect(result.status, `run -d ${MINE[i]}: ${result.stdout}${result.stderr}`).to.equal(0);
    });
    expect(results.map((r) => r.stdout.trim())).to.deep.equal(MINE);
  });

  after(async () => {
    // Whatever happened above, leave none of these VMs behind.
    if (!started) return;
    for (const name of MINE) {
      if (existsSync(vmDir(name))) await mvm(['rm', '-f', name]);
    }
  });

  it('mvm ps --json lists the three VMs running, booted, with their sizes', async () => {
    const rows = await ps();
    for (const name of [STOPPED_NAME, KILLED_NAME, DIED_NAME]) {
      const row = rows.get(name);
      expect(row, name).to.not.equal(undefined);
      expect(row).to.include({ state: 'running', reason: null, vcpus: 1, memoryBytes: 128 * 2 ** 20 });
      expect(row!.bootMs).to.be.a('number').above(0);
      expect(row!.pid).to.be.a('number').above(0);
    }
    const table = ok(await mvm(['ps']), 'mvm ps').stdout;
    expect(table).to.match(new RegExp(`^${STOPPED_NAME}\\s+running\\s+1\\s+128 MiB\\s`, 'm'));
  });

  it('the API answers curl --unix-socket, and only its owner', async function () {
    const socket = socketOf(STOPPED_NAME);
    expect(statSync(socket).mode & 0o777, 'api.sock is owner-only').to.equal(0o600);
    const curl = spawnSync('curl', ['-sS', '--max-time', '30', '--unix-socket', socket, 'http://mvm/vm'], { encoding: 'utf8' });
    expect(curl.error, 'curl must be installed (make deps)').to.equal(undefined);
    expect(curl.status, curl.stderr).to.equal(0);
    expect(JSON.parse(curl.stdout)).to.include({ name: STOPPED_NAME, state: 'running', cpus: 1 });
    if (process.getuid?.() !== 0) this.skip(); // running curl as another uid needs root (CI runs as root)
    const asOther = (path: string) =>
      spawnSync(
        'setpriv',
        [
          `--reuid=${OTHER_UID}`,
          `--regid=${OTHER_UID}`,
          '--clear-groups',
          // -v: curl names the connect error (EACCES) only in its verbose lines.
          'curl',
          '-v',
          '-sS',
          '--max-time',
          '30',
          '--unix-socket',
          path,
          'http://mvm/vm',
        ],
        { encoding: 'utf8' },
      );
    const refused = asOther(socket);
    expect(refused.status, 'another uid must not get an answer').to.not.equal(0);
    expect(refused.stderr).to.match(/Permission denied/);
    expect(refused.stdout).to.equal('');
    // The runtime root is owner-only already; a hard link in an open directory
    // shows that the socket's own mode refuses the other uid too.
    const open = mkdtempSync(join(tmpdir(), 'mvm-verbs-e2e-'));
    try {
      chmodSync(open, 0o755);
      const link = join(open, 'api.sock');
      linkSync(socket, link);
      const mine = spawnSync('curl', ['-sS', '--max-time', '30', '--unix-socket', link, 'http://mvm/vm'], { encoding: 'utf8' });
      expect(mine.status, `the link reaches the VM: ${mine.stderr}`).to.equal(0);
      const other = asOther(link);
      expect(other.status).to.not.equal(0);
      expect(other.stderr).to.match(/Permission denied/i);
      expect(other.stdout).to.equal('');
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });

  it('mvm inspect shows the live info and stats from the VMM', async () => {
    const [info] = JSON.parse(ok(await mvm(['inspect', KILLED_NAME]), 'mvm inspect').stdout) as VmInspection[];
    expect(info!.shown.state).to.equal('running');
    expect(info!.record!.memoryBytes).to.equal(128 * 2 ** 20);
    expect(info!.info!.state).to.equal('running');
    expect(info!.stats!.exits.total).to.be.above(0);
    expect(info!.stats!.memory.guestTouchedBytes).to.be.above(0);
  });

  it('mvm console reaches the guest shell through the API and Ctrl-] detaches, leaving the VM running', async () => {
    const child = spawn(process.execPath, [MVM_BIN, 'console', KILLED_NAME]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const ended = new Promise<number | null>((r) => child.on('exit', r));
    // The shell computes the number, so seeing it proves the round trip (not just an echo of the input).
    const ask = (): void => {
      child.stdin.write('echo mvm-$((6 * 7))-console\n');
    };
    ask();
    const retry = setInterval(ask, 5_000);
    try {
      await until(() => out.includes('mvm-42-console'), "the guest shell's answer", 120_000);
    } finally {
      clearInterval(retry);
    }
    child.stdin.write(ESCAPE);
    expect(await ended).to.equal(0);
    expect((await ps()).get(KILLED_NAME)!.state).to.equal('running');
  });

  it('mvm rm refuses a running VM without -f, in one line', async () => {
    const refused = await mvm(['rm', STOPPED_NAME]);
    expect(refused.status).to.equal(1);
    expect(refused.stderr).to.equal(`mvm: VM ${STOPPED_NAME} is running: stop it first (mvm stop ${STOPPED_NAME}) or use mvm rm -f\n`);
    expect((await ps()).get(STOPPED_NAME)!.state).to.equal('running');
  });

  it('mvm stop powers the guest off gracefully and waits for it', async () => {
    const result = ok(await mvm(['stop', '-t', String(STOP_TIMEOUT_SECONDS), STOPPED_NAME]), 'mvm stop');
    expect(result.stdout).to.equal(`${STOPPED_NAME}\n`);
    const row = (await ps(true)).get(STOPPED_NAME)!;
    expect(row).to.include({ state: 'exited', exitStatus: 0 });
    expect((await ps()).has(STOPPED_NAME), 'ps without -a hides it').to.equal(false);
    // The guest's init saw the stop request and powered off by itself (not forced after the timeout).
    expect(ok(await mvm(['logs', STOPPED_NAME]), 'mvm logs').stdout).to.contain(GUEST_STOP_LINE);
  });

  it('mvm kill stops a VM at once', async () => {
    expect(ok(await mvm(['kill', KILLED_NAME]), 'mvm kill').stdout).to.equal(`${KILLED_NAME}\n`);
    const row = (await ps(true)).get(KILLED_NAME)!;
    // No guest shutdown, so no guest exit status: the VMM says it was killed.
    expect(row).to.include({ state: 'exited', exitStatus: null });
    expect(row.exitReason).to.match(/killed/);
    expect(ok(await mvm(['logs', KILLED_NAME]), 'mvm logs').stdout).to.not.contain(GUEST_STOP_LINE);
  });

  it('a VM whose VMM process is SIGKILLed is shown dead, never running', async () => {
    const status = statusOf(DIED_NAME);
    expect(status.state).to.equal('running');
    if (status.where === 'helper') {
      ok(await mvm(['helper', 'exec', '--', 'kill', '-9', String(status.pid)]), 'kill -9 inside the helper VM');
    } else {
      process.kill(status.pid, 'SIGKILL');
    }
    // state.json still says running (nobody wrote a final state): ps must find out by itself.
    expect(statusOf(DIED_NAME).state).to.equal('running');
    const row = (await ps()).get(DIED_NAME);
    expect(row, 'a dead VM is still listed without -a').to.not.equal(undefined);
    expect(row!.state).to.equal('dead');
    // A jailed VMM's wrapper records how it ended (issue #17): "VMM process gone (status 1, …)" after unshare's SIGKILL report.
    expect(row!.reason).to.match(/^(VMM process gone|API socket does not answer)/);
    const table = ok(await mvm(['ps']), 'mvm ps').stdout;
    expect(table).to.match(new RegExp(`^${DIED_NAME}\\s+dead \\(`, 'm'));
  });

  it('mvm rm removes all three with their throw-away overlay, never the base image', async () => {
    const record = JSON.parse(ok(await mvm(['inspect', DIED_NAME]), 'inspect').stdout)[0].record as VmInspection['record'];
    const overlay = record!.drives[0]!.overlay!;
    expect(overlay.startsWith(vmDir(DIED_NAME)), overlay).to.equal(true);
    expect(existsSync(overlay)).to.equal(true);
    const removed = await mvm(['rm', STOPPED_NAME, KILLED_NAME, DIED_NAME]);
    expect(removed.status, removed.stderr).to.equal(0);
    expect(removed.stdout).to.equal(`${STOPPED_NAME}\n${KILLED_NAME}\n${DIED_NAME}\n`);
    expect(existsSync(overlay)).to.equal(false);
    expect(existsSync(ROOT_DISK)).to.equal(true);
    for (const name of MINE) expect(existsSync(vmDir(name)), name).to.equal(false);
    const left = JSON.parse(ok(await mvm(['ps', '-a', '--json']), 'ps').stdout) as PsRow[];
    expect(left.map((row) => row.name)).to.not.include.members(MINE);
  });
});
