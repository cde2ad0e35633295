// vm.json both ways: `mvm run -d` turns its checked plan into a VmRecord, and
// the VMM process turns the record back into the plan it boots. The file sits
// in the owner's private directory, but it is still a file anyone with that
// uid can edit, so the VMM checks every field before using it.
import type { DriveSettings, NetSettings, ShareSettings } from '../devices/settings.js';
import type { VmPlan } from '../vmm/vm-assembly.js';
import type { VmDriveRecord, VmNetRecord, VmRecord } from './vm-status.js';

const MAC_PATTERN = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function parseMac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** The record of a VM about to be launched; `overlays[i]` is drive i's overlay path when its mode is overlay. */
export function recordFromPlan(
  plan: VmPlan,
  name: string,
  overlays: readonly (string | undefined)[],
  config: string | null,
  now: Date = new Date(),
): VmRecord {
  return {
    name,
    createdAt: now.toISOString(),
    cpus: plan.cpus,
    memoryBytes: plan.memoryBytes,
    kernel: plan.kernelPath,
    initrd: plan.initrdPath ?? null,
    cmdline: plan.cmdline,
    console: plan.console,
    drives: plan.drives.map(
      (d, i): VmDriveRecord => (d.mode === 'overlay' ? { path: d.path, mode: d.mode, overlay: overlays[i]! } : { path: d.path, mode: d.mode }),
    ),
    nets: plan.nets.map((n): VmNetRecord => ({ tap: n.tap, mac: formatMac(n.mac) })),
    vsock: plan.vsock ? { cid: plan.vsock.cid, uds: plan.vsock.uds } : null,
    rng: plan.rng,
    shares: plan.shares,
    config,
    ...(plan.restoreFrom !== undefined ? { restore: plan.restoreFrom } : {}),
  };
}

/** The plan the VMM boots: an overlay drive is its overlay file, written in place. */
export function planFromRecord(record: VmRecord): VmPlan {
  return {
    console: record.console,
    kernelPath: record.kernel,
    initrdPath: record.initrd ?? undefined,
    memoryBytes: record.memoryBytes,
    cpus: record.cpus,
    cmdline: record.cmdline,
    drives: record.drives.map(
      (d): DriveSettings => (d.mode === 'overlay' ? { path: d.overlay!, mode: 'persistent' } : { path: d.path, mode: d.mode }),
    ),
    nets: record.nets.map((n): NetSettings => ({ tap: n.tap, mac: parseMac(n.mac) })),
    vsock: record.vsock ?? undefined,
    rng: record.rng,
    shares: record.shares ?? [],
    ...(record.restore ? { restoreFrom: record.restore } : {}),
  };
}

export class BadRecord extends Error {
  override name = 'BadRecord';
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isPositiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isAbsolutePath = (v: unknown): v is string => isString(v) && v.startsWith('/') && !v.includes('\0');

/** Checks a parsed vm.json field by field; throws BadRecord naming the first bad field. */
export function checkVmRecord(value: unknown, expectedName: string): VmRecord {
  const bad = (field: string): never => {
    throw new BadRecord(`vm.json: ${field} is missing or invalid`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('the top level');
  const r = value as Record<string, unknown>;
  if (r.name !== expectedName) bad('name');
  if (!isString(r.createdAt)) bad('createdAt');
  if (!isPositiveInteger(r.cpus)) bad('cpus');
  if (!isPositiveInteger(r.memoryBytes)) bad('memoryBytes');
  if (!isAbsolutePath(r.kernel)) bad('kernel');
  if (r.initrd !== null && !isAbsolutePath(r.initrd)) bad('initrd');
  if (!isString(r.cmdline)) bad('cmdline');
  if (r.console !== 'virtio' && r.console !== 'serial') bad('console');
  if (!Array.isArray(r.drives)) bad('drives');
  (r.drives as unknown[]).forEach((d, i) => {
    const drive = d as Record<string, unknown> | null;
    if (typeof drive !== 'object' || drive === null || !isAbsolutePath(drive.path)) bad(`drives[${i}].path`);
    if (drive!.mode !== 'overlay' && drive!.mode !== 'persistent' && drive!.mode !== 'ro') bad(`drives[${i}].mode`);
    if (drive!.mode === 'overlay' && !isAbsolutePath(drive!.overlay)) bad(`drives[${i}].overlay`);
  });
  if (!Array.isArray(r.nets)) bad('nets');
  (r.nets as unknown[]).forEach((n, i) => {
    const net = n as Record<string, unknown> | null;
    if (typeof net !== 'object' || net === null || !isString(net.tap) || !/^[A-Za-z0-9_.-]{1,15}$/.test(net.tap)) bad(`nets[${i}].tap`);
    if (!isString(net!.mac) || !MAC_PATTERN.test(net!.mac)) bad(`nets[${i}].mac`);
  });
  if (r.vsock !== null) {
    const v = r.vsock as Record<string, unknown> | null;
    if (typeof v !== 'object' || v === null || !isPositiveInteger(v.cid) || !isAbsolutePath(v.uds)) bad('vsock');
  }
  if (typeof r.rng !== 'boolean') bad('rng');
  if (r.shares !== undefined) {
    if (!Array.isArray(r.shares)) bad('shares');
    (r.shares as unknown[]).forEach((x, i) => {
      const share = x as Partial<Record<keyof ShareSettings, unknown>> | null;
      if (typeof share !== 'object' || share === null || !isAbsolutePath(share.path)) bad(`shares[${i}].path`);
      if (!isString(share!.tag) || !/^[A-Za-z0-9_.-]{1,36}$/.test(share!.tag)) bad(`shares[${i}].tag`);
      if (typeof share!.readOnly !== 'boolean') bad(`shares[${i}].readOnly`);
      if (share!.mountPoint !== undefined && (!isAbsolutePath(share!.mountPoint) || !/^\/[A-Za-z0-9_./-]*$/.test(share!.mountPoint)))
        bad(`shares[${i}].mountPoint`);
    });
  }
  if (r.config !== null && !isString(r.config)) bad('config');
  if (r.restore !== undefined && r.restore !== null && !isAbsolutePath(r.restore)) bad('restore');
  return value as VmRecord;
}
