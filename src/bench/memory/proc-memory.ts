// Reading host memory use from /proc, the way the memory benchmark counts it:
//  - PSS (proportional set size) of a process from /proc/PID/smaps_rollup:
//    private pages plus each shared page divided among its sharers, so the
//    sum over many instances adds up to what they really hold;
//  - MemAvailable from /proc/meminfo, the kernel's estimate of what new work
//    can still get without swapping: its drop is the instances' whole cost;
//  - a VMM's own overhead as Firecracker measures it: the RSS of every
//    mapping of the VMM process except the guest's RAM.
// All sizes are in KiB, as /proc reports them.
import * as fs from 'node:fs';

/** The "Pss:" line of smaps_rollup in KiB, or undefined once the process is gone. */
export function pssKiB(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Pss:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The process's command name, for the per-process breakdown. */
export function commandName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

export function memAvailableKiB(meminfo: string = fs.readFileSync('/proc/meminfo', 'utf8')): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  if (!m) throw new Error('/proc/meminfo has no MemAvailable line');
  return Number(m[1]);
}

export interface Mapping {
  sizeKiB: number;
  /** Anonymous: no backing file (inode 0; unnamed, or a kernel name such as [heap] or [anon:…]). */
  anonymous: boolean;
  /** A snapshot's memory file (mvm restores guest RAM by mapping it private, copy-on-write). */
  snapshotMemory: boolean;
  writable: boolean;
  rssKiB: number;
  pssKiB: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ (\d+)\s*(.*)$/;
const PAGE_BYTES_PER_KiB = 1024;
/** The name src/snapshot/ gives a snapshot's guest RAM file. */
const SNAPSHOT_MEMORY_FILE = '/memory.bin';

/** The mappings of /proc/PID/smaps text, each with its Rss and Pss. */
export function parseSmaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      const start = BigInt(`0x${header[1]}`);
      const end = BigInt(`0x${header[2]}`);
      if (end < start) throw new Error(`malformed smaps line: ${line}`);
      const path = header[5]!;
      current = {
        sizeKiB: Number((end - start) / BigInt(PAGE_BYTES_PER_KiB)),
        anonymous: header[4] === '0' && (path === '' || path.startsWith('[')),
        snapshotMemory: path.endsWith(SNAPSHOT_MEMORY_FILE),
        writable: header[3]![1] === 'w',
        rssKiB: 0,
        pssKiB: 0,
      };
      mappings.push(current);
      continue;
    }
    const field = /^(Rss|Pss):\s+(\d+) kB$/.exec(line);
    if (field && current) current[field[1] === 'Rss' ? 'rssKiB' : 'pssKiB'] = Number(field[2]);
  }
  return mappings;
}

/**
 * How much bigger than the guest's RAM its mapping may be: the kernel merges
 * adjacent anonymous mappings with the same flags into one (mvm's RAM next to
 * a few hundred KiB of Node's), and QEMU aligns its RAM block.
 */
export const GUEST_MAPPING_SLACK_KiB = 4096;

export interface VmmOverhead {
  /** The guest RAM mapping(s) found: anonymous (or a restored VM's memory file), writable, guest size to guest size + slack. */
  guestMappings: number;
  /** Resident guest RAM (what the guest has touched). */
  guestRssKiB: number;
  /** RSS of every other mapping: the VMM's own memory, Firecracker's "non-guest mappings". */
  overheadRssKiB: number;
  /** The same as PSS (shared libraries divided among their users). */
  overheadPssKiB: number;
}

/**
 * Splits a VMM's mappings into guest RAM and the rest. Guest RAM is every
 * anonymous writable mapping — or, in a VM restored from a snapshot, the
 * private mapping of its memory file — from GUEST_KIB to GUEST_KIB + slack in size (one
 * for the benchmark's 256 MiB guests: mvm and QEMU map RAM below 3 GiB in one
 * piece); undefined when there is none (then nothing can be told apart).
 */
export function vmmOverhead(mappings: readonly Mapping[], guestKiB: number): VmmOverhead | undefined {
  const isGuest = (m: Mapping) =>
    (m.anonymous || m.snapshotMemory) && m.writable && m.sizeKiB >= guestKiB && m.sizeKiB <= guestKiB + GUEST_MAPPING_SLACK_KiB;
  const guest = mappings.filter(isGuest);
  if (guest.length === 0) return undefined;
  const others = mappings.filter((m) => !isGuest(m));
  const sum = (list: readonly Mapping[], key: 'rssKiB' | 'pssKiB') => list.reduce((total, m) => total + m[key], 0);
  return {
    guestMappings: guest.length,
    guestRssKiB: sum(guest, 'rssKiB'),
    overheadRssKiB: sum(others, 'rssKiB'),
    overheadPssKiB: sum(others, 'pssKiB'),
  };
}

export function readVmmOverhead(pid: number, guestBytes: number): VmmOverhead | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  return vmmOverhead(parseSmaps(text), guestBytes / PAGE_BYTES_PER_KiB);
}
