// How `mvm run -d` decides the VM it started has booted or not
// (waitForBoot in src/fleet/detach.ts), from state.json and the VMM process's
// fate, with a stand-in process and state files in a temporary runtime root.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForBoot } from '../../src/fleet/detach.js';
import { vmDir, vmFile } from '../../src/fleet/vm-dir.js';
import { writeJsonAtomic, type VmStatus } from '../../src/fleet/vm-status.js';

const NAME = 'boot-wait';
const STARTING: VmStatus = {
  name: NAME,
  state: 'starting',
  pid: 1234,
  where: 'host',
  apiListen: '/x/api.sock',
  startedAt: '2026-11-23T23:00:00.000Z',
  bootMs: null,
  exitedAt: null,
  exitStatus: null,
  exitReason: null,
};

/** A VMM process that lives until told to exit. */
function fakeChild(): ChildProcess & { die(code: number | null, signal: string | null): void } {
  const child = new EventEmitter() as ChildProcess & { die(code: number | null, signal: string | null): void };
  Object.assign(child, { exitCode: null });
  child.die = (code, signal) => {
    Object.assign(child, { exitCode: code });
    child.emit('exit', code, signal);
  };
  return child;
}

describe('mvm run -d waiting for the boot', () => {
  let dir: string;
  let savedRunDir: string | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-detach-'));
    savedRunDir = process.env.MVM_RUN_DIR;
    process.env.MVM_RUN_DIR = dir;
    mkdirSync(vmDir(NAME), { recursive: true });
  });
  afterEach(() => {
    if (savedRunDir === undefined) delete process.env.MVM_RUN_DIR;
    else process.env.MVM_RUN_DIR = savedRunDir;
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (status: VmStatus): void => writeJsonAtomic(vmFile(NAME, 'status'), status);

  it('is booted once state.json has a boot time, even if the VM has already ended since', async () => {
    write({ ...STARTING, state: 'exited', bootMs: 900, exitStatus: 0 });
    expect((await waitForBoot(NAME, fakeChild(), 5_000)).kind).to.equal('booted');
  });

  it('waits through starting until running', async () => {
    write(STARTING);
    const waiting = waitForBoot(NAME, fakeChild(), 30_000);
    setTimeout(() => write({ ...STARTING, state: 'running', bootMs: 1200 }), 300);
    const outcome = await waiting;
    expect(outcome).to.deep.include({ kind: 'booted' });
  });

  it('reports a VM that ended before it booted, with its state', async () => {
    write({ ...STARTING, state: 'failed', exitReason: 'the guest kernel panicked' });
    const outcome = await waitForBoot(NAME, fakeChild(), 5_000);
    expect(outcome.kind).to.equal('ended');
    expect(outcome.kind === 'ended' && outcome.status.exitReason).to.equal('the guest kernel panicked');
  });

  it('reports a VMM that died without a final state', async () => {
    write(STARTING);
    const child = fakeChild();
    const waiting = waitForBoot(NAME, child, 30_000);
    setTimeout(() => child.die(null, 'SIGKILL'), 200);
    expect(await waiting).to.deep.equal({ kind: 'died', code: null, signal: 'SIGKILL' });
  });

  it('believes a final state written just before the VMM exited rather than calling it a death', async () => {
    const child = fakeChild();
    write({ ...STARTING, state: 'exited', exitStatus: 3 });
    child.die(0, null);
    expect((await waitForBoot(NAME, child, 5_000)).kind).to.equal('ended');
  });

  it('gives up after the timeout while the guest never signals', async () => {
    write(STARTING);
    const outcome = await waitForBoot(NAME, fakeChild(), 300);
    expect(outcome.kind).to.equal('timeout');
  });
});
