// The container side of the side-by-side benchmarks, end to end where they
// run (inside the helper VM on a PVM host, natively elsewhere): an idle runc
// instance reaches the marker, runs the guests' own /init in namespaces of its
// own, and stopping it leaves no process, container or bundle behind. The VM
// sides are driven end to end by the bench-boot and bench-memory specs (a VM
// boot costs seconds under the helper's TCG; the container one does not).
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inHelper, linuxGuestLocation, timeProcess } from '../../src/bench/harness.js';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
const PROBE = fileURLToPath(new URL('./fixtures/sides-probe.js', import.meta.url));

interface ProbeResult {
  seen: Array<{
    side: string;
    markerMs: number;
    pids: number;
    initCmdline?: string[];
    initEnvHasContainer?: boolean;
    ownNamespaces?: string[];
  }>;
  skipped: Array<{ side: string; reason: string }>;
  exits: Array<{ status: number | null; signal: string | null }>;
  alive: number[];
  runcLeft: string;
  bundlesLeft: number;
}

describe('bench sides: an idle runc instance, end to end', function () {
  // A cold helper VM takes ~15 s; a busy shared one much longer.
  this.timeout(240_000);
  let result: ProbeResult;

  before(async () => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    const args = [PROBE, KERNEL, INITRD, 'runc'];
    const [command, argv] = linuxGuestLocation() === 'helper' ? inHelper(process.execPath, args) : [process.execPath, args];
    const run = await timeProcess(command, argv, { limitMs: 200_000 });
    expect(run.status, run.stderr).to.equal(0);
    result = JSON.parse(run.stdout.trim().split('\n').pop()!) as ProbeResult;
  });

  it('runs the container side here, reaching the marker', () => {
    expect(result.skipped).to.deep.equal([]);
    expect(result.seen.map((s) => s.side)).to.deep.equal(['runc']);
    expect(result.seen[0]!.markerMs).to.be.greaterThan(0);
  });

  it("runs the guests' /init in the container, which hands PID 1 to the console session, in namespaces of its own", () => {
    const runc = result.seen.find((s) => s.side === 'runc')!;
    // runc run, the session (PID 1) and the idle command's sleep.
    expect(runc.pids).to.be.at.least(3);
    expect(runc.initCmdline).to.deep.equal(['/bin/sh', '/lib/mvm/session']);
    expect(runc.initEnvHasContainer).to.equal(true);
    expect(runc.ownNamespaces).to.have.members(['pid', 'mnt', 'ipc', 'uts', 'net']);
  });

  it('stops every instance and leaves no process, container or bundle behind', () => {
    expect(result.exits).to.have.length(1);
    expect(result.alive).to.deep.equal([0]);
    expect(result.runcLeft).to.equal('');
    expect(result.bundlesLeft).to.equal(0);
  });
});
