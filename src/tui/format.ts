// How numbers look in the dashboard's narrow columns: sizes and rates in
// binary units with at most three significant digits (like top and ctop),
// durations as the two largest units. Every function returns a short plain
// string; a missing value is "-".
import { formatBoot } from '../fleet/ps-table.js';

export const MISSING = '-';

const KIB = 1024;
const SIZE_UNITS = ['B', 'K', 'M', 'G', 'T'] as const;
/** Below this a unit shows one decimal ("9.5M"); from it on, none ("95M"). */
const ONE_DECIMAL_BELOW = 10;

/** 0 → "0", 1536 → "1.5K", 40 MiB → "40M". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return MISSING;
  let value = bytes;
  let unit = 0;
  while (value >= KIB && unit < SIZE_UNITS.length - 1) {
    value /= KIB;
    unit++;
  }
  if (unit === 0) return String(Math.round(value));
  const text = value < ONE_DECIMAL_BELOW ? value.toFixed(1) : String(Math.round(value));
  // 1023.6K rounds to "1024K": still one unit too small, but honest and 5 wide.
  return `${text.replace(/\.0$/, '')}${SIZE_UNITS[unit]}`;
}

const COUNT_UNITS = ['', 'k', 'M', 'G'] as const;
const THOUSAND = 1000;

/** Counts per second: 0 → "0", 12.4 → "12", 1530 → "1.5k", 2.5e6 → "2.5M". */
export function formatCount(count: number | null | undefined): string {
  if (count === null || count === undefined || !Number.isFinite(count) || count < 0) return MISSING;
  let value = count;
  let unit = 0;
  while (value >= THOUSAND && unit < COUNT_UNITS.length - 1) {
    value /= THOUSAND;
    unit++;
  }
  const text = unit > 0 && value < ONE_DECIMAL_BELOW ? value.toFixed(1) : String(Math.round(value));
  return `${text.replace(/\.0$/, '')}${COUNT_UNITS[unit]}`;
}

/** "12.3" — one decimal, as top prints %CPU. */
export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined || !Number.isFinite(percent) || percent < 0) return MISSING;
  return percent.toFixed(1);
}

/** Two rates as "read/write": "1.5M/40K". */
export function formatPair(a: string, b: string): string {
  return a === MISSING && b === MISSING ? MISSING : `${a}/${b}`;
}

const SECOND_MS = 1000;
const MINUTE_S = 60;
const HOUR_S = 60 * MINUTE_S;
const DAY_S = 24 * HOUR_S;

/** Uptime: "42s", "3m07s", "2h05m", "3d04h". */
export function formatUptime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return MISSING;
  const s = Math.floor(ms / SECOND_MS);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < MINUTE_S) return `${s}s`;
  if (s < HOUR_S) return `${Math.floor(s / MINUTE_S)}m${two(s % MINUTE_S)}s`;
  if (s < DAY_S) return `${Math.floor(s / HOUR_S)}h${two(Math.floor((s % HOUR_S) / MINUTE_S))}m`;
  return `${Math.floor(s / DAY_S)}d${two(Math.floor((s % DAY_S) / HOUR_S))}h`;
}

/** Boot time as `mvm ps` prints it: "2326 ms", "44.2 s". */
export function formatBootMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return MISSING;
  return formatBoot(ms);
}

/** Cuts `text` to `width` columns with "…" when too long, pads it with spaces when short. */
export function fitCell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const chars = [...text];
  const cut = chars.length > width ? `${chars.slice(0, width - 1).join('')}…` : text;
  return align === 'left' ? cut.padEnd(width) : cut.padStart(width);
}
