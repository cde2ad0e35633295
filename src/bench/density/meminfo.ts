// The machine's memory as the kernel reports it in /proc/meminfo: MemTotal,
// and MemAvailable (the kernel's estimate of what new work can get without
// swapping — what "free memory" means for a density limit).
import * as fs from 'node:fs';

const KiB = 1024;

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

/** Parses /proc/meminfo text; throws one line when a field is missing or malformed. */
export function parseMemInfo(text: string): MemInfo {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!match) throw new Error(`/proc/meminfo has no ${name} line`);
    return Number(match[1]) * KiB;
  };
  return { totalBytes: field('MemTotal'), availableBytes: field('MemAvailable') };
}

export function readMemInfo(): MemInfo {
  return parseMemInfo(fs.readFileSync('/proc/meminfo', 'utf8'));
}
