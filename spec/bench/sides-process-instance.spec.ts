// The process behind every side's instance, with plain shell commands in
// place of VMMs and runc: the marker is seen (also split across writes), an
// instance that ends first says so, its process tree is found, stop() ends
// it (or the side's own kill does), and failures quote the explaining line.
import { expect } from 'chai';
import { BENCH_MARKER } from '../../src/bench/boot/contenders.js';
import { outputTail, startProcessInstance } from '../../src/bench/sides/process-instance.js';
import { processTree } from '../../src/bench/sides/process-tree.js';

const sh = (script: string, extra: Partial<Parameters<typeof startProcessInstance>[0]> = {}) =>
  startProcessInstance({ side: 'runc', id: 'spec', command: '/bin/sh', args: ['-c', script], ...extra });

describe('bench sides: the instance process', function () {
  this.timeout(20_000);

  it('sees the marker after the spawn and the exit after the marker, with the status', async () => {
    const instance = sh(`echo booting; echo ${BENCH_MARKER}; exit 3`);
    const markerAt = await instance.markerAt;
    const exit = await instance.exited;
    expect(markerAt).to.be.at.least(instance.startedAt);
    expect(exit.at).to.be.at.least(markerAt);
    expect(exit).to.include({ status: 3, signal: null });
    expect(instance.output()).to.include('booting');
  });

  it('finds a marker written in two pieces', async () => {
    const half = BENCH_MARKER.length >> 1;
    const instance = sh(`printf '%s' '${BENCH_MARKER.slice(0, half)}'; sleep 0.2; printf '%s\\n' '${BENCH_MARKER.slice(half)}'`);
    expect(await instance.markerAt).to.be.greaterThan(instance.startedAt);
  });

  it('rejects the marker of an instance that ends without writing it, quoting its last words', async () => {
    const instance = sh('echo "cannot open /dev/kvm" >&2; exit 1');
    let message = '';
    await instance.markerAt.catch((err: Error) => {
      message = err.message;
    });
    expect(message).to.match(/exited with status 1 before its init wrote the marker: cannot open \/dev\/kvm/);
  });

  it('lists the instance process and its children, and stops them all with SIGTERM', async () => {
    const instance = sh(`sleep 100 & echo ${BENCH_MARKER}; wait`);
    await instance.markerAt;
    const pids = instance.pids();
    expect(pids.length).to.be.at.least(2);
    expect(processTree(pids[0]!)).to.deep.equal(pids);
    await instance.stop();
    const exit = await instance.exited;
    expect(exit.signal).to.equal('SIGTERM');
    expect(instance.pids()).to.deep.equal([]);
    await instance.stop();
  });

  it("stops through the side's own kill and runs its clean-up once the process has ended", async () => {
    let cleaned = 0;
    let killed = 0;
    // Like a container's PID 1: SIGTERM is ignored, only the side's kill ends it.
    const instance = sh(`trap '' TERM; echo ${BENCH_MARKER}; read line`, {
      kill: async () => {
        killed++;
        instance.pids().forEach((pid) => {
          process.kill(pid, 'SIGKILL');
        });
      },
      afterExit: async () => {
        cleaned++;
      },
    });
    await instance.markerAt;
    await instance.stop();
    expect([killed, cleaned]).to.deep.equal([1, 1]);
  });

  it('gives VMM instances their pid and guest memory size, and no such thing to others', async () => {
    const vm = sh(`echo ${BENCH_MARKER}`, { side: 'qemu', vmmGuestMemoryBytes: 256 * 1024 * 1024 });
    await vm.exited;
    expect(vm.vmm).to.deep.include({ guestMemoryBytes: 256 * 1024 * 1024 });
    expect(vm.vmm!.pid).to.be.a('number');
    const container = sh('true');
    await container.exited;
    expect(container.vmm).to.equal(undefined);
  });

  it('says a missing program failed to start, without throwing', async () => {
    const instance = startProcessInstance({ side: 'mvm', id: 'missing', command: '/nonexistent/mvm', args: [] });
    const exit = await instance.exited;
    expect(exit.status).to.equal(null);
    let message = '';
    await instance.markerAt.catch((err: Error) => {
      message = err.message;
    });
    expect(message).to.match(/cannot start \/nonexistent\/mvm/);
  });

  it("quotes a crashed Node process's error line, not its stack", () => {
    const crash = 'Error: boom\n    at main (file:///x.js:1:1)\n    at async y.js:2:2\n\nNode.js v20.20.2\n';
    expect(outputTail(crash)).to.equal('Error: boom');
  });
});
