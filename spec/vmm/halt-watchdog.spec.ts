// The halt watchdog (src/vmm/halt-watchdog.ts) and the verdict a vCPU thread
// gives (src/vmm/halt-probe.ts), driven by hand: fake vCPUs whose exit
// counters and answers the spec sets, and ticks called directly.
import { expect } from 'chai';
import { MpState } from '../../src/kvm/ioctls.js';
import { HaltProbe, Verdict, judgeVcpu, type VerdictValue } from '../../src/vmm/halt-probe.js';
import {
  HaltWatchdog,
  MAX_BACKOFF_PERIODS,
  SHUTDOWN_GRACE_PERIODS,
  allDead,
  type SilentStop,
  type WatchedVcpu,
} from '../../src/vmm/halt-watchdog.js';
import { DeviceShutdownWatch } from '../../src/vmm/device-shutdown-watch.js';
import type { RunPage } from '../../src/kvm/vcpu-exit.js';

const IF = 1n << 9n;

class FakeVcpu implements WatchedVcpu {
  exits = 0;
  /** What the vCPU thread would answer; undefined: it does not answer. */
  state: VerdictValue | undefined = Verdict.ALIVE;
  asked = 0;
  private request = 0;
  private answered: { request: number; verdict: VerdictValue } | null = null;

  activity(): number {
    return this.exits;
  }

  ask(): number {
    this.asked++;
    if (this.answered?.request === this.request || this.request === 0) this.request++;
    if (this.state !== undefined) this.answered = { request: this.request, verdict: this.state };
    return this.request;
  }

  answer(request: number): VerdictValue | undefined {
    return this.answered?.request === request ? this.answered.verdict : undefined;
  }
}

function watch(vcpus: FakeVcpu[], shutDown: () => boolean = () => false) {
  const stops: SilentStop[] = [];
  const dog = new HaltWatchdog(vcpus, (how) => stops.push(how), shutDown, { setInterval: () => 1, clearInterval: () => undefined });
  return { dog, halted: () => stops.filter((s) => s.kind === 'halted').length, stops };
}

describe('halt watchdog', () => {
  it('judges a vCPU dead only when it is halted with IF=0 and no NMI pending', () => {
    expect(judgeVcpu(MpState.HALTED, 0x2n, false)).to.equal(Verdict.HALTED_FOR_GOOD);
    expect(judgeVcpu(MpState.HALTED, 0x2n | IF, false)).to.equal(Verdict.ALIVE); // an idle guest
    expect(judgeVcpu(MpState.HALTED, 0x2n, true)).to.equal(Verdict.ALIVE); // an NMI wakes it
    expect(judgeVcpu(MpState.RUNNABLE, 0x2n, false)).to.equal(Verdict.ALIVE); // cli; spin
    expect(judgeVcpu(MpState.UNINITIALIZED, 0x2n, false)).to.equal(Verdict.WAITING_FOR_SIPI);
    expect(judgeVcpu(MpState.INIT_RECEIVED, 0x2n, false)).to.equal(Verdict.WAITING_FOR_SIPI);
  });

  it('counts a guest as dead when every vCPU is halted for good or never started, and at least one halted', () => {
    expect(allDead([Verdict.HALTED_FOR_GOOD, Verdict.WAITING_FOR_SIPI])).to.equal(true);
    expect(allDead([Verdict.HALTED_FOR_GOOD, Verdict.ALIVE])).to.equal(false);
    expect(allDead([Verdict.WAITING_FOR_SIPI])).to.equal(false);
    expect(allDead([Verdict.HALTED_FOR_GOOD, Verdict.UNKNOWN])).to.equal(false);
    expect(allDead([])).to.equal(false);
  });

  it('reports a guest whose vCPUs all halted for good after a quiet period and two rounds that agree, once', () => {
    const vcpus = [new FakeVcpu(), new FakeVcpu()];
    for (const v of vcpus) v.state = Verdict.HALTED_FOR_GOOD;
    const { dog, halted } = watch(vcpus);
    dog.tick(); // quiet: first round asked
    expect(vcpus.map((v) => v.asked)).to.deep.equal([1, 1]);
    dog.tick(); // all dead: suspect, second round asked
    expect(halted()).to.equal(0);
    dog.tick(); // confirmed
    expect(halted()).to.equal(1);
    dog.tick();
    dog.tick();
    expect(halted()).to.equal(1);
  });

  it('never kicks a guest that keeps exiting, and starts over after any exit', () => {
    const vcpus = [new FakeVcpu()];
    vcpus[0]!.state = Verdict.HALTED_FOR_GOOD;
    const { dog, halted } = watch(vcpus);
    for (let i = 0; i < 10; i++) {
      vcpus[0]!.exits++;
      dog.tick();
    }
    expect(vcpus[0]!.asked).to.equal(0);
    dog.tick(); // quiet: asked
    dog.tick(); // dead once: suspect
    vcpus[0]!.exits++; // ...but it did something since
    dog.tick();
    dog.tick(); // asked again
    dog.tick(); // suspect
    expect(halted()).to.equal(0);
    dog.tick();
    expect(halted()).to.equal(1);
  });

  it('leaves an idle guest (halted with interrupts enabled) alone, and asks it less and less often', () => {
    const vcpus = [new FakeVcpu(), new FakeVcpu()];
    const { dog, halted } = watch(vcpus);
    for (let i = 0; i < 20; i++) dog.tick();
    expect(halted()).to.equal(0);
    const early = vcpus.map((v) => v.asked);
    for (const asked of early) expect(asked).to.be.within(3, 10);
    // Backed off to its longest wait: one round per MAX_BACKOFF_PERIODS + 1 ticks.
    const ticks = (MAX_BACKOFF_PERIODS + 1) * 10;
    for (let i = 0; i < ticks; i++) dog.tick();
    expect(halted()).to.equal(0);
    for (const [k, v] of vcpus.entries()) expect(v.asked - early[k]!).to.be.within(9, 11);
  });

  it('still sees a guest that halts for good after a long idle time (exits or not), within the longest wait and two rounds', () => {
    for (const exiting of [false, true]) {
      const vcpus = [new FakeVcpu()];
      const { dog, halted } = watch(vcpus);
      for (let i = 0; i < 100; i++) {
        // An idle guest that exits now and then (a timer-driven poll) or never.
        if (exiting && i % 3 === 0) vcpus[0]!.exits++;
        dog.tick();
      }
      expect(halted()).to.equal(0);
      vcpus[0]!.state = Verdict.HALTED_FOR_GOOD;
      let ticks = 0;
      while (halted() === 0 && ticks < 100) {
        dog.tick();
        ticks++;
      }
      expect(halted(), `exiting: ${exiting}`).to.equal(1);
      expect(ticks, `exiting: ${exiting}`).to.be.at.most(MAX_BACKOFF_PERIODS + 3);
    }
  });

  it('looks at every period again once the kernel shut its devices down', () => {
    const vcpus = [new FakeVcpu()];
    let shut = false;
    const { dog, stops } = watch(vcpus, () => shut);
    for (let i = 0; i < 100; i++) dog.tick();
    shut = true;
    vcpus[0]!.state = Verdict.HALTED_FOR_GOOD;
    for (let i = 0; i < 4; i++) dog.tick();
    expect(stops).to.deep.equal([{ kind: 'halted', afterShutdown: true }]);
  });

  it('does not take a vCPU that does not answer for dead, nor a guest with one live vCPU', () => {
    const vcpus = [new FakeVcpu(), new FakeVcpu()];
    vcpus[0]!.state = Verdict.HALTED_FOR_GOOD;
    vcpus[1]!.state = undefined;
    const { dog, halted } = watch(vcpus);
    for (let i = 0; i < 10; i++) dog.tick();
    expect(halted()).to.equal(0);
    vcpus[1]!.state = Verdict.ALIVE;
    for (let i = 0; i < 10; i++) dog.tick();
    expect(halted()).to.equal(0);
    vcpus[1]!.state = Verdict.WAITING_FOR_SIPI;
    // Found alive round after round before: the next round may be the longest wait away.
    for (let i = 0; i < MAX_BACKOFF_PERIODS + 3; i++) dog.tick();
    expect(halted()).to.equal(1);
  });

  it('a kernel that shut its devices down and then halts is "halted after shutdown", however long the halt takes to see', () => {
    const vcpus = [new FakeVcpu()];
    vcpus[0]!.state = Verdict.HALTED_FOR_GOOD;
    const { dog, stops } = watch(vcpus, () => true);
    for (let i = 0; i < 20; i++) dog.tick();
    expect(stops).to.deep.equal([{ kind: 'halted', afterShutdown: true }]);
  });

  it('a kernel that shut its devices down and still runs a grace period later has powered down: by an exit or by a live vCPU', () => {
    const busy = [new FakeVcpu()];
    let shut = false;
    const first = watch(busy, () => shut);
    for (let i = 0; i < 5; i++) {
      busy[0]!.exits++;
      first.dog.tick();
    }
    expect(first.stops).to.deep.equal([]);
    shut = true;
    for (let i = 0; i < SHUTDOWN_GRACE_PERIODS; i++) {
      busy[0]!.exits++;
      first.dog.tick();
    }
    expect(first.stops, 'exits within the grace period prove nothing').to.deep.equal([]);
    busy[0]!.exits++;
    first.dog.tick();
    expect(first.stops).to.deep.equal([{ kind: 'powered-down' }]);

    const idle = [new FakeVcpu()]; // halted with IF=1, no exits at all
    const second = watch(idle, () => true);
    for (let i = 0; i < SHUTDOWN_GRACE_PERIODS + 3; i++) second.dog.tick();
    expect(second.stops).to.deep.equal([{ kind: 'powered-down' }]);
  });

  it('sees a device shutdown when every device a driver brought up is reset, not before', () => {
    const a = { deviceStatus: 0 };
    const b = { deviceStatus: 0 };
    const never = { deviceStatus: 0 }; // no driver for it
    const watch = new DeviceShutdownWatch([a, b, never]);
    expect(watch.check(), 'nothing driven yet').to.equal(false);
    a.deviceStatus = 0xf;
    b.deviceStatus = 0x7;
    expect(watch.check()).to.equal(false);
    a.deviceStatus = 0;
    expect(watch.check(), 'one of two reset').to.equal(false);
    b.deviceStatus = 0;
    expect(watch.check()).to.equal(true);
    expect(new DeviceShutdownWatch([]).check(), 'no devices at all').to.equal(false);
  });

  it('probe: a request is answered once by the vCPU side and repeated, not renumbered, while open', () => {
    const probe = new HaltProbe();
    const page = { immediateExit: false } as unknown as RunPage;
    const kicked: number[] = [];
    expect(probe.ask(page, (tid) => kicked.push(tid))).to.equal(1);
    expect(kicked).to.deep.equal([]); // no thread id yet: immediate_exit alone
    expect((page as unknown as { immediateExit: boolean }).immediateExit).to.equal(true);
    const worker = new HaltProbe(probe.shared);
    worker.publishThreadId(77);
    expect(probe.ask(page, (tid) => kicked.push(tid))).to.equal(1);
    expect(kicked).to.deep.equal([77]);
    expect(probe.answer(1)).to.equal(undefined);
    const vcpu = {
      run: page,
      getMpState: () => MpState.HALTED,
      getRegs: () => ({ rflags: 0x2n }),
      getVcpuEvents: () => ({ nmiPendingOrInjected: false }),
    };
    worker.answerIfAsked(vcpu as never);
    expect((page as unknown as { immediateExit: boolean }).immediateExit).to.equal(false);
    expect(probe.answer(1)).to.equal(Verdict.HALTED_FOR_GOOD);
    expect(probe.ask(page, () => undefined)).to.equal(2);
    const broken = {
      ...vcpu,
      getRegs: () => {
        throw new Error('EBADF');
      },
    };
    worker.answerIfAsked(broken as never);
    expect(probe.answer(2)).to.equal(Verdict.UNKNOWN);
  });
});
