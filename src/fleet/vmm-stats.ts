// Live numbers of one VMM process for GET /stats (VmStats in src/api/schema.ts).
//
// Memory comes from the kernel's own accounting of this process:
// /proc/self/smaps_rollup gives the resident set, /proc/self/smaps the resident
// pages of each mapping, and the guest RAM mappings (whose host addresses the
// Machine records) say which of them are the guest's. What remains is the
// VMM's own memory: node, V8's heap, device state, buffers.
import { readFileSync } from 'node:fs';
import type { DiskStats, NetStats, VmStats } from '../api/schema.js';
import type { BlockDeviceStats } from '../devices/virtio/block/device.js';
import type { NetStats as DeviceNetStats } from '../devices/virtio/net.js';
import type { VcpuExitCounts } from '../vmm/vcpu-runner.js';
import type { HostRange } from '../vmm/machine.js';

const KIB = 1024;

/** What the stats are taken from; the VMM passes the live machine, the specs a fake. */
export interface StatsSource {
  uptimeMs(): number;
  bootMs(): number | null;
  exitCounts(): readonly VcpuExitCounts[];
  disks(): readonly { readonly name: string; readonly stats: BlockDeviceStats }[];
  nets(): readonly { readonly name: string; readonly stats: DeviceNetStats }[];
  guestRamHostRanges(): readonly HostRange[];
}

/** The procfs texts the memory numbers are parsed from (files on a real VMM, fixtures in specs). */
export interface ProcReader {
  smapsRollup(): string;
  smaps(): string;
  cpuUsage(): { user: number; system: number };
}

export const PROC_SELF: ProcReader = {
  smapsRollup: () => readFileSync('/proc/self/smaps_rollup', 'utf8'),
  smaps: () => readFileSync('/proc/self/smaps', 'utf8'),
  cpuUsage: () => process.cpuUsage(),
};

/** The Rss line of smaps_rollup, in bytes (0 when absent). */
export function parseRollupRss(text: string): number {
  const match = /^Rss:\s+(\d+) kB$/m.exec(text);
  return match ? Number(match[1]) * KIB : 0;
}

/**
 * Resident bytes of guest RAM. The kernel merges a guest mapping with an
 * adjacent anonymous mapping of the same protection (the two then show as one
 * entry), so every entry overlapping guest RAM counts, with at most as many
 * bytes as it shares with guest RAM: the error is bounded by the small
 * non-guest neighbour's resident pages.
 */
export function guestResidentBytes(smaps: string, ranges: readonly HostRange[]): number {
  const spans = mergeRanges(ranges);
  let total = 0;
  let overlap = 0n;
  for (const line of smaps.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (header) {
      const start = BigInt(`0x${header[1]}`);
      const end = BigInt(`0x${header[2]}`);
      overlap = spans.reduce((sum, s) => {
        const from = s.start > start ? s.start : start;
        const to = s.end < end ? s.end : end;
        return to > from ? sum + (to - from) : sum;
      }, 0n);
      continue;
    }
    if (overlap > 0n) {
      const rss = /^Rss:\s+(\d+) kB$/.exec(line);
      if (rss) total += Math.min(Number(rss[1]) * KIB, Number(overlap));
    }
  }
  return total;
}

function mergeRanges(ranges: readonly HostRange[]): { start: bigint; end: bigint }[] {
  const sorted = ranges.map((r) => ({ start: r.hostAddress, end: r.hostAddress + BigInt(r.size) })).sort((a, b) => (a.start < b.start ? -1 : 1));
  const merged: { start: bigint; end: bigint }[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (!last || span.start > last.end) merged.push({ ...span });
    // bigints: Math.max does not take them.
    else if (span.end > last.end) last.end = span.end;
  }
  return merged;
}

/** Exit counts of every vCPU added up, by reason and in total. */
export function sumExits(counts: readonly VcpuExitCounts[]): VmStats['exits'] {
  const byReason: Record<string, number> = { io: 0, mmio: 0, interrupted: 0, other: 0 };
  for (const c of counts) {
    byReason.io! += c.io;
    byReason.mmio! += c.mmio;
    byReason.interrupted! += c.interrupted;
    byReason.other! += c.other;
  }
  return { total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason };
}

export function collectStats(source: StatsSource, proc: ProcReader = PROC_SELF, now: number = Date.now()): VmStats {
  const cpu = proc.cpuUsage();
  const rssBytes = parseRollupRss(proc.smapsRollup());
  const guestTouchedBytes = Math.min(rssBytes, guestResidentBytes(proc.smaps(), source.guestRamHostRanges()));
  return {
    timestamp: now,
    uptimeMs: Math.round(source.uptimeMs()),
    bootMs: source.bootMs(),
    cpu: { userUs: cpu.user, systemUs: cpu.system },
    memory: { rssBytes, guestTouchedBytes, vmmBytes: rssBytes - guestTouchedBytes },
    exits: sumExits(source.exitCounts()),
    disks: source.disks().map(
      ({ name, stats }): DiskStats => ({
        name,
        readOps: stats.reads,
        writeOps: stats.writes,
        flushOps: stats.flushes,
        readBytes: stats.bytesRead,
        writeBytes: stats.bytesWritten,
      }),
    ),
    nets: source.nets().map(
      ({ name, stats }): NetStats => ({
        name,
        rxPackets: stats.rxFrames,
        txPackets: stats.txFrames,
        rxBytes: stats.rxBytes,
        txBytes: stats.txBytes,
      }),
    ),
  };
}
