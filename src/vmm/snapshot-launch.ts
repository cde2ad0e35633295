// How a snapshotted VM was launched (its devices' host side: console kind,
// taps, vsock socket), kept in the snapshot so a restore builds the same
// devices in the same slots. Read back like any snapshot field: checked
// before use. Disks are carried as frozen layers in the snapshot directory
// (src/vmm/freeze-disks.ts); each restore writes to a fresh throw-away
// overlay on top of its layer, so clones never share a writable file. A VM
// with shared folders is refused: its file server's state is outside the VMM.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { type OpenDrive, type SnapshotDrive, snapshotDrives } from './freeze-disks.js';
import { CONSOLE_DEVICES } from './default-cmdline.js';
import type { VmPlan } from './vm-assembly.js';

const MAC_PATTERN = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const TAP_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

export type SnapshotLaunch = {
  readonly console: string;
  readonly kernelPath: string;
  readonly initrdPath: string | null;
  readonly nets: readonly { readonly tap: string; readonly mac: string }[];
  readonly vsock: { readonly cid: number; readonly uds: string } | null;
  readonly rng: boolean;
  readonly drives: readonly SnapshotDrive[];
};

/** A frozen layer's file name inside the snapshot directory (no path, nothing hidden). */
const LAYER_PATTERN = /^disk-[0-9]{1,2}\.(qcow2|raw)$/;

/** Refuses what a snapshot cannot hold yet; returns the launch record otherwise. */
export function launchFromPlan(plan: VmPlan, drives: readonly OpenDrive[]): SnapshotLaunch {
  // virtiofsd's state (open files, the FUSE session) lives outside the VMM and cannot be saved with it.
  if (plan.shares.length > 0) throw new SnapshotError('this VM has shared folders (--share), and snapshots of VMs with shares are not supported yet');
  return {
    console: plan.console,
    kernelPath: plan.kernelPath,
    initrdPath: plan.initrdPath ?? null,
    nets: plan.nets.map((n) => ({ tap: n.tap, mac: [...n.mac].map((b) => b.toString(16).padStart(2, '0')).join(':') })),
    vsock: plan.vsock ? { cid: plan.vsock.cid, uds: plan.vsock.uds } : null,
    rng: plan.rng,
    drives: snapshotDrives(drives),
  };
}

/** The plan of a VM restored from the snapshot in `dir`, whose machine has `memoryBytes`, `cpus` and `cmdline`. */
export function planFromLaunch(value: unknown, machine: { memoryBytes: number; cpus: number; cmdline: string }, dir: string): VmPlan {
  const bad = (field: string): never => {
    throw new SnapshotError(`the snapshot's launch record has a missing or invalid ${field}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('top level');
  const o = value as Record<string, unknown>;
  const console = CONSOLE_DEVICES.find((c) => c === o['console']) ?? bad('console');
  const path = (v: unknown, field: string): string => (typeof v === 'string' && v.startsWith('/') && !v.includes('\0') ? v : bad(field));
  if (!Array.isArray(o['nets'])) bad('nets');
  const nets = (o['nets'] as unknown[]).map((n, i) => {
    const net = (typeof n === 'object' && n !== null ? n : bad(`nets[${i}]`)) as Record<string, unknown>;
    const tap = typeof net['tap'] === 'string' && TAP_PATTERN.test(net['tap']) ? net['tap'] : bad(`nets[${i}].tap`);
    const mac = typeof net['mac'] === 'string' && MAC_PATTERN.test(net['mac']) ? net['mac'] : bad(`nets[${i}].mac`);
    return { tap, mac: Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16))) };
  });
  let vsock: VmPlan['vsock'];
  if (o['vsock'] !== null) {
    const v = (typeof o['vsock'] === 'object' && o['vsock'] !== null ? o['vsock'] : bad('vsock')) as Record<string, unknown>;
    const cid =
      typeof v['cid'] === 'number' && Number.isSafeInteger(v['cid']) && v['cid'] >= 3 && v['cid'] < 0xffff_ffff ? v['cid'] : bad('vsock.cid');
    vsock = { cid, uds: path(v['uds'], 'vsock.uds') };
  }
  if (typeof o['rng'] !== 'boolean') bad('rng');
  // Snapshots written before disks were carried have no drives.
  const driveList = o['drives'] ?? [];
  if (!Array.isArray(driveList)) bad('drives');
  const drives = (driveList as unknown[]).map((d, i): VmPlan['drives'][number] => {
    const drive = (typeof d === 'object' && d !== null ? d : bad(`drives[${i}]`)) as Record<string, unknown>;
    if (typeof drive['readOnlyPath'] === 'string') return { path: path(drive['readOnlyPath'], `drives[${i}].readOnlyPath`), mode: 'ro' };
    const layer = typeof drive['layer'] === 'string' && LAYER_PATTERN.test(drive['layer']) ? drive['layer'] : bad(`drives[${i}].layer`);
    const file = join(dir, layer);
    if (!existsSync(file)) throw new SnapshotError(`the snapshot's disk layer ${file} is missing`);
    // A fresh throw-away overlay on the frozen layer: the layer itself is never written.
    return { path: file, mode: 'overlay' };
  });
  return {
    console,
    kernelPath: path(o['kernelPath'], 'kernel path'),
    initrdPath: o['initrdPath'] === null ? undefined : path(o['initrdPath'], 'initrd path'),
    memoryBytes: machine.memoryBytes,
    cpus: machine.cpus,
    cmdline: machine.cmdline,
    drives,
    shares: [],
    nets,
    vsock,
    rng: o['rng'] as boolean,
    restoreFrom: dir,
  };
}
