// The results the report is made of, read from the JSON files the benchmarks
// write (images/out/bench/{boot,memory,disk,density,guest-disk}.json). A file
// that is absent, unreadable or of another shape is not fatal: the report is
// written with what exists and names what is missing and why.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BootSidesResult } from '../boot/side-summary.js';
import type { DensityResult } from '../density/suite.js';
import type { ExitLoopResult } from '../exit-loop/suite.js';
import type { DiskResult } from '../disk-footprint/suite.js';
import type { GuestDiskResult } from '../guest-disk/suite.js';
import type { MemoryResult } from '../memory/summary.js';

export type BenchmarkName = 'boot' | 'memory' | 'disk' | 'density';
export const BENCHMARKS: readonly BenchmarkName[] = ['boot', 'memory', 'disk', 'density'];

interface Dated {
  started: string;
  finished: string;
}

/** `mvm bench boot`'s file: the side-by-side boots are under `boot`. */
export interface BootFile extends Dated {
  benchmark: 'boot';
  boot?: BootSidesResult;
  /** The VM-exit round trip on this host's KVM and inside the helper VM (absent with --skip-exit-loop). */
  exitLoops?: ExitLoopResult[];
}
export type MemoryFile = MemoryResult & Dated & { benchmark: 'memory' };
export type DiskFile = DiskResult;
export type DensityFile = DensityResult;
/** `mvm bench guest-disk`'s file: virtio-blk I/O inside the guest, mvm against QEMU (not one of the side-by-side benchmarks). */
export type GuestDiskFile = GuestDiskResult & Dated & { benchmark: 'guest-disk' };
export const GUEST_DISK = 'guest-disk';

export interface ReportInputs {
  boot?: BootFile & { boot: BootSidesResult };
  memory?: MemoryFile;
  disk?: DiskFile;
  density?: DensityFile;
  guestDisk?: GuestDiskFile;
  /** The files read, by benchmark. */
  files: Partial<Record<BenchmarkName | typeof GUEST_DISK, string>>;
  missing: Array<{ benchmark: BenchmarkName | typeof GUEST_DISK; file: string; why: string }>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why VALUE is not a result of BENCHMARK that the report can use, or null when it is. */
export function shapeProblem(benchmark: BenchmarkName, value: unknown): string | null {
  if (!isObject(value)) return 'not a JSON object';
  if (value['benchmark'] !== benchmark) return `its "benchmark" is ${JSON.stringify(value['benchmark'])}, not "${benchmark}"`;
  if (typeof value['started'] !== 'string') return 'it has no start time';
  const holder = benchmark === 'boot' ? value['boot'] : value;
  if (!isObject(holder) || !Array.isArray(holder['sides'])) {
    return benchmark === 'boot' ? 'it has no side-by-side boots (run without --skip-boot)' : 'it has no "sides" list';
  }
  if (!holder['sides'].every((s) => isObject(s) && typeof s['label'] === 'string')) return 'a side has no label';
  return null;
}

/** Why VALUE is not a guest-disk result the report can use, or null when it is. */
export function guestDiskProblem(value: unknown): string | null {
  if (!isObject(value)) return 'not a JSON object';
  if (value['benchmark'] !== GUEST_DISK) return `its "benchmark" is ${JSON.stringify(value['benchmark'])}, not "${GUEST_DISK}"`;
  if (typeof value['started'] !== 'string') return 'it has no start time';
  const rates = value['rates'];
  if (!isObject(rates) || !isObject(rates['mvm']) || !isObject(rates['qemu'])) return 'it has no rates for mvm and QEMU';
  if (!isObject(value['size']) || typeof value['rounds'] !== 'number') return 'it has no workload size or rounds';
  return null;
}

/** Reads one result file: the parsed value, or why it cannot be used. */
function readResult(file: string, runIt: string, problem: (value: unknown) => string | null): { value: unknown } | { why: string } {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { why: code === 'ENOENT' ? `not run yet (\`${runIt}\`)` : `unreadable: ${(err as Error).message}` };
  }
  const why = problem(value);
  return why === null ? { value } : { why };
}

/** Reads DIR/<name>.json for every benchmark. */
export function readInputs(dir: string): ReportInputs {
  const inputs: ReportInputs = { files: {}, missing: [] };
  for (const benchmark of BENCHMARKS) {
    const file = path.join(dir, `${benchmark}.json`);
    const result = readResult(file, `mvm bench ${benchmark}`, (v) => shapeProblem(benchmark, v));
    if ('why' in result) {
      inputs.missing.push({ benchmark, file, why: result.why });
      continue;
    }
    inputs.files[benchmark] = file;
    // Shape checked above for what every reader relies on; the rest is the benchmarks' own output.
    (inputs as unknown as Record<string, unknown>)[benchmark] = result.value;
  }
  const file = path.join(dir, `${GUEST_DISK}.json`);
  const result = readResult(file, `mvm bench ${GUEST_DISK}`, guestDiskProblem);
  if ('why' in result) inputs.missing.push({ benchmark: GUEST_DISK, file, why: result.why });
  else {
    inputs.files[GUEST_DISK] = file;
    inputs.guestDisk = result.value as GuestDiskFile;
  }
  return inputs;
}
