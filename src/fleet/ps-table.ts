// What `mvm ps` shows: one row per VM (its shown state decided by liveness.ts),
// as an aligned table for people or as JSON for scripts.
import { formatSize } from '../units/size.js';
import { isFinalShownState, shownState } from './liveness.js';
import type { VmEntry } from './registry.js';
import type { VmShownState } from './vm-status.js';

export interface PsRow {
  readonly name: string;
  readonly state: VmShownState;
  /** Why it is dead, or how it failed/exited; null for a live VM. */
  readonly reason: string | null;
  readonly vcpus: number | null;
  readonly memoryBytes: number | null;
  /** Since the VMM process started; null once the VM is over. */
  readonly uptimeMs: number | null;
  /** VMM start → guest boot-complete; null until booted. */
  readonly bootMs: number | null;
  readonly pid: number | null;
  /** host, or helper (the pid is then one inside the helper VM). */
  readonly where: 'host' | 'helper' | null;
  readonly exitStatus: number | null;
  readonly exitReason: string | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
}

const MS_PER_SECOND = 1000;
const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_DAY = 86_400;
/** Boot times below this read better in milliseconds. */
const BOOT_MS_THRESHOLD = 10_000;
/** Columns are separated like docker's. */
const COLUMN_GAP = '   ';

/** "5 s", "3 min 4 s", "1 h 2 min", "2 d 3 h": two units at most, as `docker ps` does. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / MS_PER_SECOND));
  if (s >= SECONDS_PER_DAY) return `${Math.floor(s / SECONDS_PER_DAY)} d ${Math.floor((s % SECONDS_PER_DAY) / SECONDS_PER_HOUR)} h`;
  if (s >= SECONDS_PER_HOUR) return `${Math.floor(s / SECONDS_PER_HOUR)} h ${Math.floor((s % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE)} min`;
  if (s >= SECONDS_PER_MINUTE) return `${Math.floor(s / SECONDS_PER_MINUTE)} min ${s % SECONDS_PER_MINUTE} s`;
  return `${s} s`;
}

/** "412 ms" below ten seconds, else "12.3 s". */
export function formatBoot(ms: number): string {
  return ms < BOOT_MS_THRESHOLD ? `${Math.round(ms)} ms` : `${(ms / MS_PER_SECOND).toFixed(1)} s`;
}

export function formatState(row: Pick<PsRow, 'state' | 'reason' | 'exitStatus'>): string {
  if (row.state === 'exited' && row.exitStatus !== null) return `exited (${row.exitStatus})`;
  return row.reason ? `${row.state} (${row.reason})` : row.state;
}

/** The rows for `entries`, their liveness checked in parallel (each check may wait on an API socket). */
export async function psRows(entries: readonly VmEntry[], now: () => number = Date.now): Promise<PsRow[]> {
  return Promise.all(
    entries.map(async (entry): Promise<PsRow> => {
      const shown = await shownState(entry);
      const { record, status } = entry;
      const started = status ? Date.parse(status.startedAt) : Number.NaN;
      return {
        name: entry.name,
        state: shown.state,
        reason: shown.reason,
        vcpus: record?.cpus ?? null,
        memoryBytes: record?.memoryBytes ?? null,
        uptimeMs: !isFinalShownState(shown.state) && Number.isFinite(started) ? Math.max(0, now() - started) : null,
        bootMs: status?.bootMs ?? null,
        pid: status?.pid ?? null,
        where: status?.where ?? null,
        exitStatus: status?.exitStatus ?? null,
        exitReason: status?.exitReason ?? null,
        createdAt: record?.createdAt ?? null,
        startedAt: status?.startedAt ?? null,
      };
    }),
  );
}

/** `mvm ps` without -a: every VM not over, and the dead ones (state.json still says live: they need a look). */
export function isShownByDefault(row: PsRow): boolean {
  return row.state !== 'exited' && row.state !== 'failed';
}

const HEADERS = ['NAME', 'STATE', 'VCPUS', 'MEMORY', 'UPTIME', 'BOOT', 'PID'] as const;
const NONE = '-';

function cells(row: PsRow): string[] {
  return [
    row.name,
    formatState(row),
    row.vcpus === null ? NONE : String(row.vcpus),
    row.memoryBytes === null ? NONE : formatSize(row.memoryBytes),
    row.uptimeMs === null ? NONE : formatUptime(row.uptimeMs),
    row.bootMs === null ? NONE : formatBoot(row.bootMs),
    // A pid inside the helper VM is no pid of this host: say so, so nobody kills the wrong process.
    row.pid === null ? NONE : row.where === 'helper' ? `${row.pid} (helper)` : String(row.pid),
  ];
}

export function formatPsTable(rows: readonly PsRow[]): string {
  const table = [[...HEADERS], ...rows.map(cells)];
  const widths = HEADERS.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  return `${table.map((line) => line.map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!))).join(COLUMN_GAP)).join('\n')}\n`;
}
