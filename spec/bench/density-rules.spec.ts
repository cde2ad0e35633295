// The density benchmark's logic without VMs: when it stops (memory, p99 boot
// doubling, cap, budget — the machine's limits named before chosen ones),
// /proc/meminfo parsing, and the fill loop driven through fake sides whose
// instances "boot" in scripted times: every instance is stopped at the end,
// a failing one stops its side, a side that cannot run is reported.
import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { parseMemInfo } from '../../src/bench/density/meminfo.js';
import { BOOT_WINDOW, bootTails, shouldStop } from '../../src/bench/density/stop-rule.js';
import { runDensitySuite } from '../../src/bench/density/suite.js';
import type { BenchInstance, BenchSide, SideName } from '../../src/bench/sides/side.js';
import { HELPER_ENVIRONMENT } from './report-fixtures.js';

const GiB = 1024 ** 3;
const roomy = { memAvailableBytes: 3 * GiB, memTotalBytes: 4 * GiB, maxInstances: 100, elapsedMs: 0, budgetMs: 60_000 };

/** A side whose Nth start boots in BOOTS[N] ms (by its timestamps, no waiting); a negative time fails to start. */
function fakeSide(name: SideName, boots: readonly number[], log: { started: number; stopped: number }): BenchSide {
  let n = 0;
  return {
    name,
    label: `fake ${name}`,
    unavailable: async () => null,
    start(id): BenchInstance {
      const bootMs = boots[n++] ?? 10;
      const startedAt = performance.now();
      if (!id.includes('warmup')) log.started++;
      const markerAt =
        bootMs < 0
          ? Promise.reject(new Error(`${name} instance ${id} exited with status 1 before its init wrote the marker`))
          : Promise.resolve(startedAt + bootMs);
      markerAt.catch(() => undefined);
      let stopped = false;
      return {
        side: name,
        id,
        startedAt,
        markerAt,
        exited: Promise.resolve({ at: startedAt, status: 0, signal: null }),
        pids: () => [],
        output: () => '',
        stop: async () => {
          if (!stopped && !id.includes('warmup')) log.stopped++;
          stopped = true;
        },
      };
    },
  };
}

describe('bench density: stop rules', () => {
  it('needs two windows of boots before comparing tails', () => {
    expect(bootTails(Array(2 * BOOT_WINDOW - 1).fill(100))).to.equal(undefined);
    expect(bootTails([100, 110, 90, 100, 120, 200, 210, 190, 250, 230])).to.deep.equal({ first: 120, last: 250 });
  });

  it('stops when the p99 of the last boots doubles that of the first ones, not before', () => {
    const steady = [100, 110, 90, 100, 120, 150, 160, 170, 180, 239];
    expect(shouldStop({ ...roomy, bootMs: steady })).to.equal(null);
    const doubled = [...steady.slice(0, -1), 240];
    expect(shouldStop({ ...roomy, bootMs: doubled })?.reason).to.equal('boot-time');
  });

  it('stops below 10 % MemAvailable, and names memory before a cap reached at the same time', () => {
    const low = shouldStop({ ...roomy, bootMs: [100, 100], memAvailableBytes: 0.09 * 4 * GiB, maxInstances: 2 });
    expect(low?.reason).to.equal('memory');
    expect(low?.detail).to.match(/9\.0 % of MemTotal/);
  });

  it("calls a cap and a budget chosen limits, never the machine's", () => {
    const cap = shouldStop({ ...roomy, bootMs: [100, 100], maxInstances: 2 });
    expect(cap?.reason).to.equal('cap');
    expect(cap?.detail).to.match(/chosen cap, not this machine's limit/);
    const budget = shouldStop({ ...roomy, bootMs: [100], elapsedMs: 61_000 });
    expect(budget?.reason).to.equal('budget');
    expect(budget?.detail).to.match(/not this machine's/);
  });

  it('reads MemTotal and MemAvailable from /proc/meminfo text, and names a missing field', () => {
    expect(parseMemInfo('MemTotal:        4009052 kB\nMemFree:  100 kB\nMemAvailable:    3500000 kB\n')).to.deep.equal({
      totalBytes: 4009052 * 1024,
      availableBytes: 3500000 * 1024,
    });
    expect(() => parseMemInfo('MemTotal: 1 kB\n')).to.throw(/no MemAvailable line/);
  });
});

describe('bench density: the fill loop (fake sides)', () => {
  it('fills each side until its rule stops it, reports why, and stops every instance', async () => {
    const logs = { mvm: { started: 0, stopped: 0 }, runc: { started: 0, stopped: 0 }, qemu: { started: 0, stopped: 0 } };
    const slowing = [0, 100, 100, 100, 100, 100, 150, 180, 200, 210, 230];
    const sides = [
      { side: fakeSide('mvm', slowing, logs.mvm), unavailable: null },
      { side: fakeSide('qemu', [], logs.qemu), unavailable: 'qemu-system-x86_64 is not installed' },
      { side: fakeSide('runc', [0, 5, 5, -1], logs.runc), unavailable: null },
    ];
    const result = await runDensitySuite({ sides, maxInstances: 50, budgetMs: 60_000, settleMs: 0 }, HELPER_ENVIRONMENT);
    expect(result.sides.map((s) => s.side)).to.deep.equal(['mvm', 'qemu', 'runc']);
    const [mvm, qemu, runc] = result.sides;
    expect(mvm!.stop?.reason).to.equal('boot-time');
    expect(mvm!.reached).to.equal(10);
    expect(mvm!.samples.map((s) => Math.round(s.bootMs))).to.deep.equal(slowing.slice(1));
    expect(mvm!.bootMs!.p99).to.be.at.least(mvm!.bootMs!.median);
    expect(qemu!.unavailable).to.match(/not installed/);
    expect(qemu!.reached).to.equal(0);
    expect(runc!.stop?.reason).to.equal('failed');
    expect(runc!.stop?.detail).to.match(/before its init wrote the marker/);
    expect(runc!.reached).to.equal(2);
    for (const log of [logs.mvm, logs.runc]) expect(log.stopped, 'every started instance stopped').to.equal(log.started);
    expect(result.environment.where).to.equal('helper');
    expect(result.memTotalBytes).to.be.greaterThan(0);
  });

  it('reports a side whose warm-up instance fails as failed with none up, and goes on with the next side', async () => {
    const broken = { started: 0, stopped: 0 };
    const fine = { started: 0, stopped: 0 };
    const result = await runDensitySuite(
      {
        sides: [
          { side: fakeSide('qemu', [-1], broken), unavailable: null },
          { side: fakeSide('runc', [], fine), unavailable: null },
        ],
        maxInstances: 2,
        budgetMs: 60_000,
        settleMs: 0,
      },
      HELPER_ENVIRONMENT,
    );
    expect(result.sides[0]!.reached).to.equal(0);
    expect(result.sides[0]!.stop?.reason).to.equal('failed');
    expect(result.sides[0]!.stop?.detail).to.match(/^warm-up: /);
    expect(result.sides[1]!.reached).to.equal(2);
  });

  it('stops at the cap with exactly that many instances', async () => {
    const log = { started: 0, stopped: 0 };
    const result = await runDensitySuite(
      { sides: [{ side: fakeSide('mvm', [], log), unavailable: null }], maxInstances: 3, budgetMs: 60_000, settleMs: 0 },
      HELPER_ENVIRONMENT,
    );
    expect(result.sides[0]!.reached).to.equal(3);
    expect(result.sides[0]!.stop?.reason).to.equal('cap');
    expect(log).to.deep.equal({ started: 3, stopped: 3 });
  });
});
