// A detached microVM end to end, as a user runs it: `mvm run -d --name X`
// returns once the guest has booted (through the helper VM on hosts whose KVM
// cannot run Linux), the API answers `curl --unix-socket` on vms/X/api.sock
// with live stats, and POST /stop makes the guest power itself off: state
// exited with status 0, the shutdown in console.log, the API socket (and the
// host relay, when there is one) gone. One boot serves every assertion, in order.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StopAccepted, VmInfo, VmStats } from '../../src/api/schema.js';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
/** Unique per run: the VM lives in the shared runtime root, beside anyone else's. */
const NAME = `vmm-e2e-${process.pid}`;
const POLL_MS = 200;
/** The guest polls the stop register once a second; shutting down takes a few more under emulation. */
const STOP_TIMEOUT_MS = 60_000;

function curl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('curl', ['-sS', '--max-time', '30', '--unix-socket', vmFile(NAME, 'api'), ...args], { encoding: 'utf8' });
  if (result.error) throw new Error(`curl must be installed (make deps): ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function until(condition: () => boolean, what: string, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('detached microVM end to end: mvm run -d, the API socket, graceful stop', function () {
  // A cold helper VM ~15 s; node's start plus a boot inside it 10-30 s under load.
  this.timeout(300_000);
  const status = (): VmStatus | null => readJsonFile<VmStatus>(vmFile(NAME, 'status'));
  let relayPid: number | null = null;

  before(() => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
  });

  after(async () => {
    // Whatever happened above, leave no VM behind.
    const last = status();
    if (last && (last.state === 'running' || last.state === 'starting' || last.state === 'stopping') && existsSync(vmFile(NAME, 'api'))) {
      curl(['-X', 'POST', 'http://mvm/kill']);
      await until(() => status()?.state === 'exited', 'the kill', 30_000).catch(() => undefined);
    }
    if (relayPid !== null && pidAlive(relayPid)) process.kill(relayPid, 'SIGTERM');
    rmSync(vmDir(NAME), { recursive: true, force: true });
  });

  it('mvm run -d --name returns after the boot, printing the name; state.json says running', async () => {
    const result = await runMvm(['run', '-d', '--name', NAME, '-m', '128M'], { timeoutMs: 240_000 });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout.trim()).to.equal(NAME);
    const now = status()!;
    expect(now).to.include({ name: NAME, state: 'running', exitStatus: null });
    expect(now.bootMs).to.be.a('number').above(0);
    expect(statSync(vmFile(NAME, 'api')).mode & 0o777, 'api.sock is owner-only').to.equal(0o600);
    if (now.where === 'helper') {
      relayPid = Number(readFileSync(vmFile(NAME, 'relayPid'), 'utf8'));
      expect(pidAlive(relayPid), 'the relay runs').to.equal(true);
    }
  });

  it('refuses a second VM with the same name', async () => {
    const result = await runMvm(['run', '-d', '--name', NAME]);
    expect(result.status).to.not.equal(0);
    expect(result.stderr).to.contain(`a VM named ${NAME} already exists (mvm rm ${NAME})`);
    expect(status()!.state).to.equal('running');
  });

  it('answers curl --unix-socket: GET /vm and GET /stats with live numbers', () => {
    const info = curl(['http://mvm/vm']);
    expect(info.status, info.stderr).to.equal(0);
    expect(JSON.parse(info.stdout) as VmInfo).to.include({ name: NAME, state: 'running', cpus: 1, memoryBytes: 128 * 2 ** 20 });
    const answer = curl(['http://mvm/stats']);
    expect(answer.status, answer.stderr).to.equal(0);
    const stats = JSON.parse(answer.stdout) as VmStats;
    expect(stats.exits.total).to.be.above(0);
    expect(stats.exits.byReason.mmio).to.be.above(0);
    expect(stats.memory.guestTouchedBytes)
      .to.be.above(0)
      .and.at.most(128 * 2 ** 20);
    expect(stats.memory.vmmBytes)
      .to.equal(stats.memory.rssBytes - stats.memory.guestTouchedBytes)
      .and.above(0);
    expect(stats.cpu.userUs + stats.cpu.systemUs).to.be.above(0);
    expect(stats.bootMs).to.equal(status()!.bootMs);
  });

  it('POST /stop: the guest powers itself off (exited, status 0, the shutdown in console.log); the socket and relay go', async () => {
    const answer = curl(['-X', 'POST', '-H', 'content-type: application/json', '-d', `{"timeoutMs": ${STOP_TIMEOUT_MS}}`, 'http://mvm/stop']);
    expect(answer.status, answer.stderr).to.equal(0);
    expect(JSON.parse(answer.stdout) as StopAccepted).to.deep.equal({ state: 'stopping', timeoutMs: STOP_TIMEOUT_MS });
    await until(() => status()?.state === 'exited' || status()?.state === 'failed', 'the VM to stop', STOP_TIMEOUT_MS + 30_000);
    expect(status()).to.include({ state: 'exited', exitStatus: 0, exitReason: 'stopped on request' });
    expect(readFileSync(vmFile(NAME, 'console'), 'utf8')).to.contain('mvm-init: the host asked the VM to stop; powering off');
    await until(() => !existsSync(vmFile(NAME, 'api')), 'api.sock to be removed', 30_000);
    if (relayPid !== null) {
      const pid = relayPid;
      await until(() => !pidAlive(pid), 'the relay to exit', 30_000);
      expect(existsSync(vmFile(NAME, 'relayPid'))).to.equal(false);
    }
  });
});
