// liveness.ts: which state mvm shows for a detached VM, against fake VMMs —
// above all, a VMM that died is never shown as running.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASON_API_SILENT, REASON_NEVER_STARTED, REASON_PROCESS_GONE, STARTUP_GRACE_MS, shownState } from '../../src/fleet/liveness.js';
import { readVm } from '../../src/fleet/registry.js';
import { VM_FILES } from '../../src/fleet/vm-dir.js';
import { writeJsonAtomic } from '../../src/fleet/vm-status.js';
import { FakeRunDir, deadPid } from '../helpers/fake-vmm.js';

const POLL_MS = 20;

describe('fleet liveness (shown state of a detached VM)', () => {
  let run: FakeRunDir;
  beforeEach(() => {
    run = new FakeRunDir();
  });
  afterEach(async () => {
    await run.cleanup();
  });

  const shown = (name: string) => shownState(readVm(name, run.env));

  it('shows a host VM whose pid exists as its state.json says', async () => {
    run.add({ name: 'alive', state: 'running' });
    run.add({ name: 'booting', state: 'starting', bootMs: null });
    expect(await shown('alive')).to.deep.equal({ state: 'running', reason: null });
    expect(await shown('booting')).to.deep.equal({ state: 'starting', reason: null });
  });

  it('shows a host VM whose VMM process is gone as dead, whatever state.json says', async () => {
    const pid = await deadPid();
    for (const state of ['starting', 'running', 'stopping'] as const) {
      run.add({ name: `gone-${state}`, state, pid });
      expect(await shown(`gone-${state}`)).to.deep.equal({ state: 'dead', reason: REASON_PROCESS_GONE });
    }
  });

  it('shows a helper VM whose API answers as running, one whose api.sock is missing as dead', async () => {
    await run.add({ name: 'relayed', where: 'helper', pid: 1 }).listen();
    run.add({ name: 'unrelayed', where: 'helper', pid: 1 });
    expect(await shown('relayed')).to.deep.equal({ state: 'running', reason: null });
    expect(await shown('unrelayed')).to.deep.equal({ state: 'dead', reason: REASON_API_SILENT });
  });

  it('shows a helper VM whose api.sock is left by a killed relay (nobody listening) as dead', async () => {
    const vm = run.add({ name: 'stale', where: 'helper', pid: 1 });
    const relay = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(vm.socketPath)})`], { stdio: 'ignore' });
    while (!existsSync(vm.socketPath)) await new Promise((r) => setTimeout(r, POLL_MS));
    relay.kill('SIGKILL');
    await new Promise((r) => relay.on('exit', r));
    expect(existsSync(vm.socketPath), 'SIGKILL leaves the socket file').to.equal(true);
    expect(await shown('stale')).to.deep.equal({ state: 'dead', reason: REASON_API_SILENT });
  });

  it('does not call a helper VM dead before mvm run -d has started its relay (starting, or just booted)', async () => {
    run.add({ name: 'early', where: 'helper', state: 'starting', pid: 1, bootMs: null });
    expect(await shown('early')).to.deep.equal({ state: 'starting', reason: null });
    // The fake started 65 s ago: booted 60 s in is "just now", booted 1 s in is long past the relay's start.
    run.add({ name: 'just-booted', where: 'helper', state: 'running', pid: 1, bootMs: 60_000 });
    expect(await shown('just-booted')).to.deep.equal({ state: 'running', reason: null });
    run.add({ name: 'long-booted', where: 'helper', state: 'running', pid: 1, bootMs: 1_000 });
    expect(await shown('long-booted')).to.deep.equal({ state: 'dead', reason: REASON_API_SILENT });
  });

  it('calls a just-booted helper VM dead once its relay has stopped (it removed api.sock on finding the VMM gone)', async () => {
    run.add({ name: 'relay-gone', where: 'helper', state: 'running', pid: 1, bootMs: 60_000 });
    expect(await shown('relay-gone')).to.deep.equal({ state: 'running', reason: null });
    writeFileSync(join(run.env.MVM_RUN_DIR, 'vms', 'relay-gone', VM_FILES.relayEnded), 'the VMM inside the helper VM is gone\n');
    expect(await shown('relay-gone')).to.deep.equal({ state: 'dead', reason: REASON_API_SILENT });
  });

  it('shows exited and failed VMs as such, with the exit reason, without probing them', async () => {
    run.add({ name: 'done', state: 'exited', exitStatus: 3, pid: await deadPid() });
    run.add({ name: 'broke', state: 'failed', exitReason: 'the guest kernel panicked', where: 'helper' });
    expect(await shown('done')).to.deep.equal({ state: 'exited', reason: null });
    expect(await shown('broke')).to.deep.equal({ state: 'failed', reason: 'the guest kernel panicked' });
  });

  it('shows a claimed VM without state.json as starting, and as dead once nobody can be coming', async () => {
    const fresh = run.add({ name: 'claimed' });
    rmSync(join(fresh.dir, VM_FILES.status));
    expect(await shown('claimed')).to.deep.equal({ state: 'starting', reason: null });
    const old = run.add({ name: 'abandoned' });
    rmSync(join(old.dir, VM_FILES.status));
    writeJsonAtomic(join(old.dir, VM_FILES.record), { ...old.record, createdAt: new Date(Date.now() - 2 * STARTUP_GRACE_MS).toISOString() });
    expect(await shown('abandoned')).to.deep.equal({ state: 'dead', reason: REASON_NEVER_STARTED });
  });

  it('shows a state.json with an unknown state as dead rather than trusting it', async () => {
    const vm = run.add({ name: 'odd' });
    writeJsonAtomic(join(vm.dir, VM_FILES.status), { ...vm.currentStatus, state: 'sleeping' });
    const result = await shown('odd');
    expect(result.state).to.equal('dead');
    expect(result.reason).to.contain('sleeping');
  });
});
