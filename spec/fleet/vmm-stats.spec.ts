// The VMM's stats (src/fleet/vmm-stats.ts) from fixture procfs texts and a
// fake machine: guest memory told apart from the VMM's own, exits summed.
import { expect } from 'chai';
import { collectStats, guestResidentBytes, parseRollupRss, sumExits, type ProcReader, type StatsSource } from '../../src/fleet/vmm-stats.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** One smaps entry as the kernel prints it (the fields that matter here). */
function entry(start: bigint, end: bigint, rssKib: number, name = ''): string {
  return [
    `${start.toString(16)}-${end.toString(16)} rw-p 00000000 00:00 0    ${name}`,
    `Size:           ${Number(end - start) / KIB} kB`,
    'KernelPageSize:        4 kB',
    `Rss:            ${rssKib} kB`,
    'Pss:                  0 kB',
  ].join('\n');
}

const GUEST = 0x7f0000000000n;
const GUEST_SIZE = 256 * MIB;

describe('VMM stats', () => {
  it('reads the resident set from smaps_rollup', () => {
    expect(parseRollupRss('55d0-7ffd ---p 00000000 00:00 0    [rollup]\nRss:               71964 kB\nPss:  1 kB\n')).to.equal(71964 * KIB);
    expect(parseRollupRss('nothing here')).to.equal(0);
  });

  it('counts only the guest RAM mappings as guest memory, including a split or merged guest mapping', () => {
    const smaps = [
      entry(0x400000n, 0x500000n, 900, '/usr/bin/node'),
      // Guest RAM in two entries (the kernel split it), and the second merged with a small neighbour.
      entry(GUEST, GUEST + 128n * BigInt(MIB), 2048),
      entry(GUEST + 128n * BigInt(MIB), GUEST + BigInt(GUEST_SIZE) + 0x21000n, 1024),
      entry(GUEST + BigInt(GUEST_SIZE) + 0x100000n, GUEST + BigInt(GUEST_SIZE) + 0x200000n, 512, '[heap]'),
    ].join('\n');
    const ranges = [{ hostAddress: GUEST, size: GUEST_SIZE }];
    expect(guestResidentBytes(smaps, ranges)).to.equal((2048 + 1024) * KIB);
    expect(guestResidentBytes(smaps, [])).to.equal(0);
  });

  it('caps an entry that overlaps guest RAM only partly at the overlap', () => {
    // A 64 KiB guest range inside a larger entry with 1 MiB resident: at most 64 KiB can be the guest's.
    const smaps = entry(GUEST, GUEST + 0x200000n, 1024);
    expect(guestResidentBytes(smaps, [{ hostAddress: GUEST, size: 64 * KIB }])).to.equal(64 * KIB);
  });

  it('adds up exits of every vCPU by reason and in total', () => {
    expect(
      sumExits([
        { io: 5, mmio: 2, interrupted: 1, other: 0 },
        { io: 1, mmio: 0, interrupted: 0, other: 3 },
      ]),
    ).to.deep.equal({
      total: 12,
      byReason: { io: 6, mmio: 2, interrupted: 1, other: 3 },
    });
  });

  it('collects VmStats from the machine and procfs', () => {
    const source: StatsSource = {
      uptimeMs: () => 1500.4,
      bootMs: () => 700,
      exitCounts: () => [{ io: 10, mmio: 4, interrupted: 0, other: 1 }],
      disks: () => [{ name: 'vda', stats: { reads: 1, writes: 2, flushes: 3, bytesRead: 512, bytesWritten: 1024, rejected: 0, ioErrors: 0 } }],
      nets: () => [{ name: 'eth0', stats: { rxFrames: 4, txFrames: 5, rxBytes: 400, txBytes: 500, rxDropped: 1, txDropped: 0 } }],
      guestRamHostRanges: () => [{ hostAddress: GUEST, size: GUEST_SIZE }],
    };
    const proc: ProcReader = {
      smapsRollup: () => 'Rss:  10240 kB\n',
      smaps: () => entry(GUEST, GUEST + BigInt(GUEST_SIZE), 4096),
      cpuUsage: () => ({ user: 111, system: 222 }),
    };
    expect(collectStats(source, proc, 42)).to.deep.equal({
      timestamp: 42,
      uptimeMs: 1500,
      bootMs: 700,
      cpu: { userUs: 111, systemUs: 222 },
      memory: { rssBytes: 10 * MIB, guestTouchedBytes: 4 * MIB, vmmBytes: 6 * MIB },
      exits: { total: 15, byReason: { io: 10, mmio: 4, interrupted: 0, other: 1 } },
      disks: [{ name: 'vda', readOps: 1, writeOps: 2, flushOps: 3, readBytes: 512, writeBytes: 1024 }],
      nets: [{ name: 'eth0', rxPackets: 4, txPackets: 5, rxBytes: 400, txBytes: 500 }],
    });
  });
});
