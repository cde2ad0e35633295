// A detached VM whose guest stops itself, each way that needs the VMM's own
// detection (a halt, a power-down with nothing to power off, a reset) or
// passes a status: `mvm ps -a` shows exited (STATUS) or exited (halted),
// `mvm inspect` answers with the final state, the API socket and the host
// relay (if any) are gone, and no VMM process is left where it ran (inside
// the helper VM on hosts that need it).
import { expect } from 'chai';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { readJsonFile, type VmStatus } from '../../src/fleet/vm-status.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';
import { vmmPids, waitForVmmsGone } from '../helpers/vmm-processes.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
/** A boot in the helper VM under load, plus a cold helper. */
const RUN_TIMEOUT_MS = 240_000;
/** The guest stops a few seconds after booting; the VMM notices within two. */
const END_TIMEOUT_MS = 120_000;
const POLL_MS = 250;
/** How long the guest lives before it stops itself: longer than listing the VMMs takes inside the helper. */
const LIFE_SECONDS = 12;

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const CASES: { way: string; script: string; shown: string; exitStatus: number | null; exitReason: string | null }[] = [
  { way: 'halt -f', script: 'halt -f', shown: 'exited (halted)', exitStatus: null, exitReason: 'halted' },
  { way: 'poweroff -f', script: 'poweroff -f', shown: 'exited (halted)', exitStatus: null, exitReason: 'halted' },
  { way: 'echo o > /proc/sysrq-trigger', script: 'echo o > /proc/sysrq-trigger', shown: 'exited (0)', exitStatus: 0, exitReason: null },
  { way: 'reboot -f', script: 'reboot -f', shown: 'exited (0)', exitStatus: 0, exitReason: null },
  { way: 'the command exiting with 3', script: 'exit 3', shown: 'exited (3)', exitStatus: 3, exitReason: null },
];

describe('a detached VM whose guest stops itself ends: ps, inspect, API socket, relay, VMM process', function () {
  this.timeout(RUN_TIMEOUT_MS + END_TIMEOUT_MS + 60_000);
  const names: string[] = [];

  before(() => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
  });

  after(async () => {
    for (const name of names) {
      await runMvm(['kill', name]).catch(() => undefined);
      await runMvm(['rm', '-f', name]).catch(() => undefined);
      rmSync(vmDir(name), { recursive: true, force: true });
    }
  });

  CASES.forEach(({ way, script, shown, exitStatus, exitReason }, i) => {
    it(`${way}: ${shown}`, async () => {
      const name = `guest-stop-${process.pid}-${i}`;
      names.push(name);
      // Seconds of life first, so the spec sees the VM and its VMM running before it stops.
      const started = await runMvm(['run', '-d', '--name', name, '-m', '128M', '--', 'sh', '-c', `sleep ${LIFE_SECONDS}; ${script}; sleep 600`], {
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(started.status, started.stderr).to.equal(0);
      const status = () => readJsonFile<VmStatus>(vmFile(name, 'status'));
      const first = status()!;
      const relayPid = first.where === 'helper' ? Number(readFileSync(vmFile(name, 'relayPid'), 'utf8')) : null;
      // state.json's pid is the VMM's where it runs (inside the helper VM, there), which is where vmmPids looks.
      expect([...(await vmmPids())], 'the VMM of the VM just started').to.include(first.pid);
      const vmms = [first.pid];

      const deadline = Date.now() + END_TIMEOUT_MS;
      while (status()?.state !== 'exited') {
        if (Date.now() > deadline) throw new Error(`the VM did not end: ${JSON.stringify(status())}`);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      expect(status()).to.include({ state: 'exited', exitStatus, exitReason });

      const ps = await runMvm(['ps', '-a']);
      expect(ps.stdout).to.match(new RegExp(`^${name}\\s+${shown.replace(/[()]/g, '\\$&')}\\s`, 'm'));
      const inspect = await runMvm(['inspect', name]);
      expect(inspect.status, inspect.stderr).to.equal(0);
      const [report] = JSON.parse(inspect.stdout) as { shown: { state: string }; status: VmStatus }[];
      expect(report!.shown.state).to.equal('exited');
      expect(report!.status).to.include({ exitStatus, exitReason });

      // Inside the helper VM the host's API socket belongs to the relay, which
      // notices the final state on its next poll and removes the socket as it
      // ends: the socket is checked once the relay is gone, not before.
      if (relayPid !== null) {
        const relayDeadline = Date.now() + END_TIMEOUT_MS;
        while (pidAlive(relayPid) && Date.now() < relayDeadline) await new Promise((r) => setTimeout(r, POLL_MS));
        expect(pidAlive(relayPid), 'the API relay').to.equal(false);
      }
      expect(existsSync(vmFile(name, 'api')), 'the API socket').to.equal(false);
      await waitForVmmsGone(vmms, END_TIMEOUT_MS);
    });
  });
});
