// Rates from two /stats samples: CPU % from user+system time over the
// samples' own timestamps, per-second exits and byte rates summed over every
// disk and NIC, and no rate at all across a counter reset.
import { expect } from 'chai';
import type { VmStats } from '../../src/api/schema.js';
import { computeRates } from '../../src/tui/rates.js';

function sample(overrides: { timestamp: number; uptimeMs?: number; cpuUs?: number; exits?: number; read?: number; rx?: number }): VmStats {
  const cpuUs = overrides.cpuUs ?? 0;
  return {
    timestamp: overrides.timestamp,
    uptimeMs: overrides.uptimeMs ?? overrides.timestamp,
    bootMs: 100,
    cpu: { userUs: Math.floor(cpuUs / 2), systemUs: cpuUs - Math.floor(cpuUs / 2) },
    memory: { rssBytes: 3, guestTouchedBytes: 2, vmmBytes: 1 },
    exits: { total: overrides.exits ?? 0, byReason: {} },
    disks: [
      { name: 'vda', readOps: 0, writeOps: 0, flushOps: 0, readBytes: overrides.read ?? 0, writeBytes: 0 },
      { name: 'vdb', readOps: 0, writeOps: 0, flushOps: 0, readBytes: overrides.read ?? 0, writeBytes: 7 },
    ],
    nets: [{ name: 'eth0', rxPackets: 0, txPackets: 0, rxBytes: overrides.rx ?? 0, txBytes: 0 }],
  };
}

describe('tui: rates from two stats samples', () => {
  it('computes CPU %, exits/s and byte rates over the sample timestamps', () => {
    const rates = computeRates(
      sample({ timestamp: 10_000, cpuUs: 1_000_000, exits: 500, read: 1000, rx: 0 }),
      sample({ timestamp: 12_000, cpuUs: 1_500_000, exits: 4500, read: 3000, rx: 4096 }),
    );
    expect(rates).to.deep.equal({
      cpuPercent: 25, // 0.5 s of CPU in 2 s
      exitsPerSecond: 2000,
      diskReadBytesPerSecond: 2000, // both disks: 2 × 2000 B over 2 s
      diskWriteBytesPerSecond: 0,
      netRxBytesPerSecond: 2048,
      netTxBytesPerSecond: 0,
    });
  });

  it('reports more than 100 % for a VMM busy on several cores, like top', () => {
    const rates = computeRates(sample({ timestamp: 0, cpuUs: 0 }), sample({ timestamp: 1000, cpuUs: 2_000_000 }));
    expect(rates!.cpuPercent).to.equal(200);
  });

  it('gives no rate across a counter reset (a new VMM behind the same name)', () => {
    const before = sample({ timestamp: 50_000, cpuUs: 9_000_000, exits: 90_000 });
    expect(computeRates(before, sample({ timestamp: 51_000, uptimeMs: 800, cpuUs: 100_000, exits: 10 }))).to.equal(null);
    // Uptime still grows but one counter went backwards (a disk replaced): still no rate.
    expect(computeRates(before, sample({ timestamp: 51_000, uptimeMs: 51_000, cpuUs: 9_100_000, exits: 100 }))).to.equal(null);
  });

  it('gives no rate for the same sample twice or a clock that went backwards', () => {
    const a = sample({ timestamp: 5000, cpuUs: 10 });
    expect(computeRates(a, a)).to.equal(null);
    expect(computeRates(a, sample({ timestamp: 4000, uptimeMs: 6000, cpuUs: 20 }))).to.equal(null);
  });
});
