// The detached VM's state machine (src/fleet/vm-lifecycle.ts) with fake
// effects and a hand-driven clock: every state.json it writes, the stop
// request to the guest, the stop timeout, and that the final state is written
// once.
import { expect } from 'chai';
import { VmLifecycle, type LifecycleTimers } from '../../src/fleet/vm-lifecycle.js';
import type { VmStatus } from '../../src/fleet/vm-status.js';

/** Timers that fire only when the spec advances the clock. */
class FakeTimers implements LifecycleTimers {
  time = 1_000_000;
  private pending: { at: number; callback: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ at: this.time + ms, callback, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }

  get scheduled(): number {
    return this.pending.length;
  }

  advance(ms: number): void {
    this.time += ms;
    const due = this.pending.filter((t) => t.at <= this.time);
    this.pending = this.pending.filter((t) => t.at > this.time);
    for (const t of due) t.callback();
  }
}

function setUp() {
  const written: VmStatus[] = [];
  const calls: string[] = [];
  const timers = new FakeTimers();
  const lifecycle = new VmLifecycle(
    { name: 'web', pid: 4242, where: 'host', apiListen: '/run/x/api.sock', startedAt: '2026-11-23T23:00:00.000Z' },
    {
      writeStatus: (s) => written.push(s),
      requestGuestStop: () => calls.push('guest-stop'),
      // The VMM writes the final state itself, after closing the disks: recorded here in the same list.
      terminate: (final) => {
        calls.push('terminate');
        written.push(final);
      },
    },
    timers,
  );
  const states = () => written.map((s) => s.state);
  return { lifecycle, written, calls, timers, states, last: () => written[written.length - 1]! };
}

describe('detached VM lifecycle (state.json transitions)', () => {
  it('announces starting, then running with the boot time once the guest signals boot-complete', () => {
    const { lifecycle, states, last } = setUp();
    lifecycle.announce();
    expect(last()).to.deep.include({
      name: 'web',
      pid: 4242,
      where: 'host',
      apiListen: '/run/x/api.sock',
      state: 'starting',
      bootMs: null,
      exitStatus: null,
    });
    lifecycle.booted(812.6);
    expect(states()).to.deep.equal(['starting', 'running']);
    expect(last().bootMs).to.equal(813);
    lifecycle.booted(2000); // a second signal (a guest re-running its init) changes nothing
    expect(states()).to.deep.equal(['starting', 'running']);
  });

  it('ends as exited with the guest status when the guest powers off, and terminates once', () => {
    const { lifecycle, states, calls, last, timers } = setUp();
    lifecycle.announce();
    lifecycle.booted(500);
    lifecycle.guestPoweredOff(3);
    expect(states()).to.deep.equal(['starting', 'running', 'exited']);
    expect(last()).to.deep.include({ exitStatus: 3, exitReason: null, exitedAt: new Date(timers.time).toISOString() });
    lifecycle.guestPoweredOff(0);
    lifecycle.failed('late');
    expect(lifecycle.kill()).to.deep.equal({ ok: false, error: 'the VM has already exited' });
    expect(states()).to.have.length(3);
    expect(calls).to.deep.equal(['terminate']);
  });

  it('ends as exited without a status, reason "halted", when the guest halted for good', () => {
    const { lifecycle, states, calls, last } = setUp();
    lifecycle.announce();
    lifecycle.booted(500);
    lifecycle.guestHalted();
    expect(states()).to.deep.equal(['starting', 'running', 'exited']);
    expect(last()).to.deep.include({ exitStatus: null, exitReason: 'halted' });
    lifecycle.guestPoweredOff(0);
    expect(calls).to.deep.equal(['terminate']);
  });

  it('graceful stop: stopping, asks the guest, and an in-time power-off is exited 0 "stopped on request" without a kill', () => {
    const { lifecycle, states, calls, last, timers } = setUp();
    lifecycle.announce();
    lifecycle.booted(500);
    expect(lifecycle.stop(10_000)).to.deep.equal({ ok: true, accepted: { state: 'stopping', timeoutMs: 10_000 } });
    expect(states()).to.deep.equal(['starting', 'running', 'stopping']);
    expect(calls).to.deep.equal(['guest-stop']);
    timers.advance(9_999);
    lifecycle.guestPoweredOff(0);
    expect(last()).to.deep.include({ state: 'exited', exitStatus: 0, exitReason: 'stopped on request' });
    expect(timers.scheduled).to.equal(0);
    timers.advance(10_000);
    expect(calls).to.deep.equal(['guest-stop', 'terminate']);
  });

  it('graceful stop: a guest that ignores it is killed when the timeout runs out', () => {
    const { lifecycle, calls, last, timers } = setUp();
    lifecycle.announce();
    lifecycle.booted(500);
    lifecycle.stop(2_000);
    timers.advance(1_999);
    expect(last().state).to.equal('stopping');
    expect(calls).to.deep.equal(['guest-stop']);
    timers.advance(1);
    expect(last()).to.deep.include({ state: 'exited', exitStatus: null });
    expect(last().exitReason).to.match(/did not power off within 2000 ms.*killed/);
    expect(calls).to.deep.equal(['guest-stop', 'terminate']);
  });

  it('a second stop keeps the first deadline and does not ask the guest again', () => {
    const { lifecycle, calls, timers, last } = setUp();
    lifecycle.announce();
    lifecycle.stop(5_000);
    expect(lifecycle.stop(60_000)).to.deep.equal({ ok: true, accepted: { state: 'stopping', timeoutMs: 5_000 } });
    expect(calls).to.deep.equal(['guest-stop']);
    timers.advance(5_000);
    expect(last().state).to.equal('exited');
  });

  it('a stop while starting stays a stop when the boot completes afterwards (the boot time is still recorded)', () => {
    const { lifecycle, states, last } = setUp();
    lifecycle.announce();
    lifecycle.stop(10_000);
    lifecycle.booted(700);
    expect(states()).to.deep.equal(['starting', 'stopping', 'stopping']);
    expect(last().bootMs).to.equal(700);
  });

  it('refuses timeouts that are not whole milliseconds from 0 to an hour', () => {
    const { lifecycle, states } = setUp();
    lifecycle.announce();
    for (const bad of [-1, 1.5, Number.NaN, 3_600_001]) {
      expect(lifecycle.stop(bad).ok).to.equal(false);
    }
    expect(states()).to.deep.equal(['starting']);
  });

  it('kill ends at once, cancelling a pending stop timeout', () => {
    const { lifecycle, calls, last, timers } = setUp();
    lifecycle.announce();
    lifecycle.stop(10_000);
    expect(lifecycle.kill('killed (POST /kill)').ok).to.equal(true);
    expect(last()).to.deep.include({ state: 'exited', exitStatus: null, exitReason: 'killed (POST /kill)' });
    expect(timers.scheduled).to.equal(0);
    expect(calls).to.deep.equal(['guest-stop', 'terminate']);
  });

  it('a failure is final, with its reason', () => {
    const { lifecycle, states, last } = setUp();
    lifecycle.announce();
    lifecycle.failed('the guest kernel panicked');
    expect(states()).to.deep.equal(['starting', 'failed']);
    expect(last()).to.deep.include({ exitStatus: null, exitReason: 'the guest kernel panicked' });
    expect(lifecycle.stop(1000)).to.deep.equal({ ok: false, error: 'the VM has already failed' });
  });
});
