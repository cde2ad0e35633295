// How the memory benchmark's idle-CPU row reads /proc/PID/stat: utime + stime
// after a command name that may hold spaces and parentheses, and percent of a
// core over a window counting only processes seen at both ends.
import { expect } from 'chai';
import { cpuPercent, cpuTicks, parseCpuTicks } from '../../src/bench/memory/proc-cpu.js';

/** A /proc/PID/stat line with the given command name, utime and stime. */
function statLine(comm: string, utime: number, stime: number): string {
  // Fields 3..13, then utime (14), stime (15), then the rest.
  return `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1234 0 0 0 ${utime} ${stime} 0 0 20 0 7 0 5000 123456789 2000\n`;
}

describe('bench memory: reading CPU time from /proc', () => {
  it('adds utime and stime, whatever the command name holds', () => {
    expect(parseCpuTicks(statLine('node', 150, 37))).to.equal(187);
    expect(parseCpuTicks(statLine('a b) S 9 9 (c', 5, 6))).to.equal(11);
  });

  it('refuses a line without the command name or with fields missing', () => {
    expect(() => parseCpuTicks('4242 node S 1')).to.throw(/malformed/);
    expect(() => parseCpuTicks('4242 (node) S 1 2 3')).to.throw(/malformed/);
  });

  it('gives percent of one core, ignoring processes that came or went during the window', () => {
    const before = new Map([
      [1, 100],
      [2, 50],
      [3, 10],
    ]);
    const after = new Map([
      [1, 150],
      [2, 60],
      [4, 900],
    ]);
    // 60 ticks = 0.6 s of CPU over 2 s: 30 % of a core.
    expect(cpuPercent(before, after, 2000)).to.be.closeTo(30, 1e-9);
    expect(() => cpuPercent(before, after, 0)).to.throw(/positive/);
  });

  it("reads this process's own CPU time, which grows while it works", () => {
    const start = cpuTicks(process.pid)!;
    const until = Date.now() + 100;
    let spin = 0;
    while (Date.now() < until) spin++;
    expect(spin).to.be.greaterThan(0);
    expect(cpuTicks(process.pid)!).to.be.greaterThan(start);
    expect(cpuTicks(0x7ffffff0)).to.equal(undefined);
  });
});
