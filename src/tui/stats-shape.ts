// Checks that an API answer has the shape the dashboard is about to do
// arithmetic on. The VMM is ours, but a socket can belong to an older or
// newer mvm, or to anything else listening there: a body that is not a
// VmStats / VmInfo is reported as such, never turned into NaN on screen.
import type { VmInfo, VmStats } from '../api/schema.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function hasCounts(value: unknown, keys: readonly string[]): boolean {
  return isObject(value) && keys.every((key) => isCount(value[key]));
}

const DISK_COUNTERS = ['readOps', 'writeOps', 'flushOps', 'readBytes', 'writeBytes'] as const;
const NET_COUNTERS = ['rxPackets', 'txPackets', 'rxBytes', 'txBytes'] as const;

export function isVmStats(body: unknown): body is VmStats {
  if (!isObject(body)) return false;
  if (!isCount(body.timestamp) || !isCount(body.uptimeMs) || !(body.bootMs === null || isCount(body.bootMs))) return false;
  if (!hasCounts(body.cpu, ['userUs', 'systemUs'])) return false;
  if (!hasCounts(body.memory, ['rssBytes', 'guestTouchedBytes', 'vmmBytes'])) return false;
  if (!isObject(body.exits) || !isCount(body.exits.total) || !isObject(body.exits.byReason)) return false;
  if (!Object.values(body.exits.byReason).every(isCount)) return false;
  if (!Array.isArray(body.disks) || !body.disks.every((d) => hasCounts(d, DISK_COUNTERS))) return false;
  return Array.isArray(body.nets) && body.nets.every((n) => hasCounts(n, NET_COUNTERS));
}

const LIFE_STATES = new Set(['starting', 'running', 'stopping', 'exited', 'failed']);

/** Only the fields the dashboard reads; the rest of VmInfo is passed through untouched. */
export function isVmInfo(body: unknown): body is VmInfo {
  return (
    isObject(body) &&
    typeof body.state === 'string' &&
    LIFE_STATES.has(body.state) &&
    isCount(body.cpus) &&
    isCount(body.memoryBytes) &&
    isCount(body.pid) &&
    isCount(body.uptimeMs) &&
    (body.bootMs === null || isCount(body.bootMs))
  );
}
