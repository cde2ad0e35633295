// `mvm stop`, `mvm kill` and `mvm rm` against fake VMMs: what they ask the
// API, that they wait for the final state, the fallbacks to signals, rm's
// refusal of a running VM, and that a persistent disk is never deleted.
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeRunDir, deadPid, fakeVmmProcess } from '../helpers/fake-vmm.js';
import { runMvm } from '../helpers/mvm-cli.js';
import { readVm } from '../../src/fleet/registry.js';
import { VM_FILES } from '../../src/fleet/vm-dir.js';

function exited(child: { exitCode: number | null; signalCode: string | null; once(event: 'exit', fn: () => void): unknown }): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', resolve));
}

describe('mvm stop / kill / rm (fake VMMs)', function () {
  this.timeout(60_000);
  let run: FakeRunDir;
  beforeEach(() => {
    run = new FakeRunDir();
  });
  afterEach(async () => {
    await run.cleanup();
  });

  it('stop asks for a graceful stop with the -t timeout, waits for the final state, prints the names', async () => {
    const a = await run.add({ name: 'a', stopDelayMs: 800 }).listen();
    const b = await run.add({ name: 'b' }).listen();
    const result = await runMvm(['stop', '-t', '3', 'a', 'b'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('a\nb\n');
    expect(a.stopBodies).to.deep.equal([{ timeoutMs: 3000 }]);
    // It printed "a" only after the fake wrote its final state (800 ms after the request).
    expect(readVm('a', run.env).status!.state).to.equal('exited');
    expect(b.currentStatus.state).to.equal('exited');
  });

  it('stop of a VM already over just prints its name; an unknown name is one line and exit 1, the others still stop', async () => {
    run.add({ name: 'done', state: 'exited', exitStatus: 0 });
    const live = await run.add({ name: 'live' }).listen();
    const result = await runMvm(['stop', 'done', 'ghost', 'live'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stdout).to.equal('done\nlive\n');
    expect(result.stderr).to.equal('mvm: no VM named ghost\n');
    expect(live.currentStatus.state).to.equal('exited');
  });

  it('stop sends SIGTERM to a host VMM whose API does not answer', async () => {
    const vmm = fakeVmmProcess('quiet');
    run.add({ name: 'quiet', pid: vmm.pid! });
    const result = await runMvm(['stop', 'quiet'], { env: run.env });
    await exited(vmm);
    expect(result.status, result.stderr).to.equal(0);
    expect(vmm.signalCode).to.equal('SIGTERM');
  });

  it('rejects a -t that is not a number of seconds', async () => {
    run.add({ name: 'x' });
    const result = await runMvm(['stop', '-t', 'soon', 'x'], { env: run.env });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.match(/^mvm: -t must be a number of seconds/);
  });

  it('kill posts /kill and waits until the VM is over', async () => {
    const k = await run.add({ name: 'k' }).listen();
    const result = await runMvm(['kill', 'k'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('k\n');
    expect(k.requests).to.deep.equal(['POST /kill']);
    expect(readVm('k', run.env).status).to.include({ state: 'failed', exitReason: 'killed' });
  });

  it('kill falls back to SIGKILL for a host VMM whose API does not answer, and ps then shows it dead', async () => {
    const vmm = fakeVmmProcess('wedged');
    run.add({ name: 'wedged', pid: vmm.pid! });
    const result = await runMvm(['kill', 'wedged'], { env: run.env });
    await exited(vmm);
    expect(result.status, result.stderr).to.equal(0);
    expect(vmm.signalCode).to.equal('SIGKILL');
    expect((await runMvm(['ps'], { env: run.env })).stdout).to.match(/^wedged\s+dead \(VMM process gone\)/m);
  });

  it("kill never signals a recycled pid (a process that is not this VM's VMM)", async () => {
    const stranger = fakeVmmProcess('someone-else');
    try {
      run.add({ name: 'recycled', pid: stranger.pid! });
      const result = await runMvm(['kill', 'recycled'], { env: run.env });
      expect(result.status).to.equal(1);
      expect(result.stderr).to.match(/^mvm: cannot kill VM recycled: its API socket does not answer/);
      expect(stranger.exitCode).to.equal(null);
      expect(stranger.signalCode).to.equal(null);
    } finally {
      stranger.kill('SIGKILL');
      await exited(stranger);
    }
  });

  it('kill of a VM that is not running says so', async () => {
    run.add({ name: 'over', state: 'exited', exitStatus: 0 });
    run.add({ name: 'gone', pid: await deadPid() });
    const result = await runMvm(['kill', 'over', 'gone'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.equal('mvm: VM over is not running (exited)\nmvm: VM gone is not running (dead: VMM process gone)\n');
  });

  it('rm refuses a running VM without -f in one line and leaves it alone', async () => {
    const vm = await run.add({ name: 'busy' }).listen();
    const result = await runMvm(['rm', 'busy'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.equal('mvm: VM busy is running: stop it first (mvm stop busy) or use mvm rm -f\n');
    expect(existsSync(vm.dir)).to.equal(true);
    expect(vm.requests).to.not.include('POST /kill');
    expect(readVm('busy', run.env).status!.state).to.equal('running');
  });

  it('rm -f kills a running VM first, then removes its directory and throw-away overlay', async () => {
    const overlay = join(run.root, 'vms', 'doomed', 'overlay-0.qcow2');
    const vm = await run.add({ name: 'doomed', drives: [{ path: join(run.root, 'base.qcow2'), mode: 'overlay', overlay }] }).listen();
    writeFileSync(join(run.root, 'base.qcow2'), 'base image');
    writeFileSync(overlay, 'overlay');
    const result = await runMvm(['rm', '-f', 'doomed'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('doomed\n');
    expect(vm.requests).to.include('POST /kill');
    expect(existsSync(vm.dir)).to.equal(false);
    expect(existsSync(join(run.root, 'base.qcow2')), "the overlay's base image stays").to.equal(true);
  });

  it('rm removes stopped and dead VMs but never a disk attached persistent or read-only', async () => {
    const disks = join(run.root, 'disks');
    mkdirSync(disks);
    const persistent = join(disks, 'data.qcow2');
    writeFileSync(persistent, 'user data');
    run.add({ name: 'stopped', state: 'exited', exitStatus: 0, drives: [{ path: persistent, mode: 'persistent' }] });
    run.add({ name: 'dead', pid: await deadPid() });
    // A persistent disk the user happened to keep inside the VM's directory stays too (and so does the directory).
    const mine = join(run.root, 'vms', 'odd', 'mine.raw');
    const odd = run.add({ name: 'odd', state: 'exited', exitStatus: 0, drives: [{ path: mine, mode: 'ro' }] });
    writeFileSync(mine, 'precious');
    const result = await runMvm(['rm', 'stopped', 'dead', 'odd'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('stopped\ndead\nodd\n');
    expect(result.stderr).to.equal(`mvm: kept ${mine}: it is a disk attached persistent or read-only\n`);
    expect(existsSync(persistent)).to.equal(true);
    expect(existsSync(mine)).to.equal(true);
    expect(existsSync(join(odd.dir, VM_FILES.status)), 'the rest of its directory is gone').to.equal(false);
    expect((await runMvm(['ps', '-a', '--json'], { env: run.env })).stdout).to.not.match(/"stopped"|"dead"/);
  });

  it('rm touches nothing outside the VM directory, whatever vm.json says, and never follows a symbolic link', async () => {
    const outside = join(run.root, 'important.txt');
    writeFileSync(outside, 'keep me');
    const vm = run.add({ name: 'tampered', state: 'exited', exitStatus: 0, drives: [{ path: outside, mode: 'overlay', overlay: outside }] });
    symlinkSync(run.root, join(run.root, 'vms', 'link'));
    const result = await runMvm(['rm', 'tampered', 'link'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stdout).to.equal('tampered\n');
    expect(result.stderr).to.equal('mvm: no VM named link\n');
    expect(existsSync(vm.dir)).to.equal(false);
    expect(readFileSync(outside, 'utf8')).to.equal('keep me');
  });

  it('rm ends a leftover relay of a helper VM (relay.pid)', async () => {
    const relay = fakeVmmProcess('relayed');
    run.add({ name: 'relayed', where: 'helper', state: 'exited', exitStatus: 0 });
    writeFileSync(join(run.root, 'vms', 'relayed', VM_FILES.relayPid), `${relay.pid}\n`);
    const result = await runMvm(['rm', 'relayed'], { env: run.env });
    await exited(relay);
    expect(result.status, result.stderr).to.equal(0);
    expect(relay.signalCode).to.equal('SIGTERM');
  });

  it('every verb answers an unknown name with one line and exit 1', async () => {
    for (const verb of [['stop'], ['kill'], ['rm'], ['rm', '-f'], ['logs'], ['console'], ['inspect']]) {
      const result = await runMvm([...verb, 'nosuchvm'], { env: run.env });
      expect(result.status, verb.join(' ')).to.equal(1);
      expect(result.stderr, verb.join(' ')).to.equal('mvm: no VM named nosuchvm\n');
    }
  });
});
