// The raw samples measure.ts prints and suite.ts reads back (across the
// helper VM boundary, so they are validated, not trusted).
import type { GuestFiles, MvmTiming } from './contenders.js';

export interface BootRun {
  /** Spawn → process exit. */
  wallMs: number;
  /** Spawn → the guest's marker on the console. */
  markerMs: number;
}

export interface BootSamples {
  runs: number;
  mvm: Array<BootRun & MvmTiming>;
  qemu: BootRun[];
  /** Wall time of `mvm run --help`: Node start plus loading the modules `mvm run` uses. */
  cliLoadMs: number[];
}

const MAX_RUNS = 1000;

export function parseMeasureArgs(argv: readonly string[]): { runs: number; files: GuestFiles } {
  const value = (name: string): string => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v === undefined) throw new Error(`missing ${name}; usage: measure.js --runs N --kernel PATH --initrd PATH`);
    return v;
  };
  const runs = Number(value('--runs'));
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) throw new Error(`--runs must be a whole number from 1 to ${MAX_RUNS}`);
  return { runs, files: { kernel: value('--kernel'), initrd: value('--initrd') } };
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isBootRun(v: unknown): v is BootRun {
  const r = v as Partial<BootRun> | null;
  return typeof r === 'object' && r !== null && positive(r.wallMs) && positive(r.markerMs);
}

/** The JSON line measure.ts printed last, checked field by field. */
export function parseBootSamples(stdout: string): BootSamples {
  const line = stdout.trim().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`the boot measurement printed no result line (got "${line.slice(0, 200)}")`);
  }
  const s = value as Partial<BootSamples>;
  const ok = typeof s === 'object' && s !== null && Number.isInteger(s.runs) &&
    Array.isArray(s.mvm) && s.mvm.length === s.runs && s.mvm.every(isBootRun) &&
    Array.isArray(s.qemu) && s.qemu.length === s.runs && s.qemu.every(isBootRun) &&
    Array.isArray(s.cliLoadMs) && s.cliLoadMs.length > 0 && s.cliLoadMs.every(positive) &&
    s.mvm.every((r) => ['bootToUserspaceMs', 'vmmSetupMs', 'kernelInitMs', 'ranMs'].every((k) => {
      const f = (r as unknown as Record<string, unknown>)[k];
      return f === undefined || positive(f);
    }));
  if (!ok) throw new Error(`the boot measurement's result is malformed: ${line.slice(0, 200)}`);
  return s as BootSamples;
}
