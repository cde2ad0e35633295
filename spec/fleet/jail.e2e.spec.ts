// The jailed VMM, seen from outside as the issue asks (#17): two detached VMs,
// one with a disk overlay in its VM directory. Each VMM's /proc/PID/status
// shows seccomp filter mode, no_new_privs and a uid of its own; its root
// (/proc/PID/root) holds neither /etc/shadow, nor the other VM's directory
// (disk overlay, API socket), nor the host's processes (its /proc shows its
// own pid namespace only). A VMM that makes a call outside its allow-list is
// killed and `mvm ps` says so. Checked where the VMMs run: on this host, or
// inside the helper VM through `mvm helper exec`.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { JAIL_ID_BASE } from '../../src/fleet/jail-ids.js';
import { PROJECT_ROOT, runMvm, shellQuote } from '../helpers/mvm-cli.js';
import { vmmsRunInHelper } from '../helpers/vmm-processes.js';

const ROOT_DISK = resolve(PROJECT_ROOT, 'images/out/rootfs.qcow2');
const BOOT_TIMEOUT_MS = 240_000;
const NAMES = [`jail-a-${process.pid}`, `jail-b-${process.pid}`] as const;
const FORBIDDEN = `jail-sys-${process.pid}`;

/** Runs `script` with sh where the VMMs run. */
async function shWhereVmmsRun(script: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  if (vmmsRunInHelper) return runMvm(['helper', 'exec', '--', 'sh', '-c', script], { timeoutMs: 120_000 });
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function vmmPid(name: string): number {
  const status = readJsonFile<VmStatus>(vmFile(name, 'status'));
  if (!status) throw new Error(`${name} has no state.json`);
  return status.pid;
}

describe('the VMM jail (e2e)', function () {
  this.timeout(600_000);

  before(async () => {
    const [a, b] = NAMES;
    const runs = await Promise.all([
      runMvm(['run', '-d', '--name', a, '-m', '128M', '--disk', ROOT_DISK], { timeoutMs: BOOT_TIMEOUT_MS }),
      runMvm(['run', '-d', '--name', b, '-m', '128M'], { timeoutMs: BOOT_TIMEOUT_MS }),
    ]);
    for (const run of runs) expect(run.status, run.stderr).to.equal(0);
  });

  after(async () => {
    await runMvm(['rm', '-f', ...NAMES, FORBIDDEN], { timeoutMs: 120_000 });
  });

  it("shows Seccomp 2, NoNewPrivs 1 and a uid of mvm's range in each VMM's /proc/PID/status, a different one per VM", async () => {
    const uids: number[] = [];
    for (const name of NAMES) {
      const r = await shWhereVmmsRun(`grep -E '^(Uid|Gid|Seccomp|NoNewPrivs):' /proc/${vmmPid(name)}/status`);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^Seccomp:\s+2$/m);
      expect(r.stdout).to.match(/^NoNewPrivs:\s+1$/m);
      const uid = Number(/^Uid:\s+(\d+)\s+(\d+)/m.exec(r.stdout)?.[1]);
      expect(uid).to.be.at.least(JAIL_ID_BASE);
      expect(r.stdout).to.match(new RegExp(`^Gid:\\s+${uid}\\s`, 'm'));
      uids.push(uid);
    }
    expect(new Set(uids).size).to.equal(NAMES.length);
  });

  it("cannot reach /etc/shadow, the other VM's disk and socket, or the host's processes from its root", async () => {
    const [a, b] = NAMES;
    const root = `/proc/${vmmPid(b)}/root`;
    const r = await shWhereVmmsRun(
      [
        `test ! -e ${root}/etc/shadow && echo no-shadow`,
        `test ! -e ${root}/etc && echo no-etc`,
        `test ! -e ${shellQuote(root + vmDir(a))} && echo no-other-vm`,
        `test -e ${shellQuote(root + vmFile(b, 'status'))} && echo own-state`,
        `ls ${root}/proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo`,
      ].join('; '),
    );
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).to.deep.equal(['no-shadow', 'no-etc', 'no-other-vm', 'own-state']);
    // Its own pid namespace: the VMM is 1 there, and virtiofsd would be its only company.
    expect(lines[4]!.trim()).to.equal('1');
  });

  it('is killed at a system call outside its allow-list, and mvm ps says the seccomp filter did it', async () => {
    const run = await runMvm(['run', '-d', '--name', FORBIDDEN, '-m', '128M'], {
      timeoutMs: BOOT_TIMEOUT_MS,
      env: { MVM_JAIL_TEST_FORBIDDEN_SYSCALL: '1' },
    });
    expect(run.status, run.stderr).to.equal(0);
    const deadline = Date.now() + 60_000;
    let listing = '';
    while (Date.now() < deadline) {
      listing = (await runMvm(['ps', '-a'])).stdout;
      if (/dead \(VMM killed by its seccomp filter/.test(listing)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(listing).to.match(new RegExp(`${FORBIDDEN}\\s+dead \\(VMM killed by its seccomp filter \\(SIGSYS`));
    // The neighbours run on.
    for (const name of NAMES) expect(listing).to.match(new RegExp(`${name}\\s+running`));
  });
});
