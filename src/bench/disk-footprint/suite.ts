// The disk-footprint benchmark: COUNT instances of each kind from one base,
// the time to make each, and the bytes each really occupies (allocated
// blocks) just made and after it has written the same fixed amount. Runs
// where it is started: it needs no KVM itself (only the guest writes do,
// through `mvm run`), and overlayfs needs root and a local filesystem.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarize, type Summary } from '../stats.js';
import { filesystemName, footprintOf, type Footprint } from './allocated.js';
import { prepareBase } from './base.js';
import { CLONE_STRATEGIES, type CloneInstance, type CloneKind, type CloneStrategy } from './clones.js';
import { WRITE_UNIT_BYTES, writeInContainer, writeInGuest, writeThroughBackend, type WriteVia } from './instance-write.js';

export interface DiskPlan {
  count: number;
  writeBytes: number;
  writeVia: WriteVia;
  /** The qcow2 base (images/out/rootfs.qcow2). */
  baseQcow2: string;
  /** The kernel the guest writes boot (images/out/vmlinux). */
  kernel: string;
  /** Only these kinds (all when absent). */
  only?: readonly CloneKind[];
  /** 'instance': one more instance measured; 'skipped': a kind that cannot be made here (its COUNT steps never come). */
  progress?: (event: { kind: 'instance' | 'skipped'; text: string }) => void;
}

export interface DiskInstanceSample {
  cloneMs: number;
  before: Footprint;
  after: Footprint;
  /** The instance's write, including the boot for guest writes. */
  writeMs: number;
}

export interface DiskSideResult {
  kind: CloneKind;
  label: string;
  how: string;
  world: 'vm' | 'container';
  /** Why it was not measured here; the rest is absent then. */
  unavailable?: string;
  sharedBaseBytes: number;
  instances: DiskInstanceSample[];
  cloneMs?: Summary;
  allocatedBefore?: Summary;
  allocatedAfter?: Summary;
  /** Shared base + the first k instances after their writes, k = 1..count: the disk for k instances. */
  totalAllocatedByCount: number[];
}

export interface DiskResult {
  benchmark: 'disk';
  started: string;
  finished: string;
  /** Where it ran (the guest writes run wherever `mvm run` runs Linux guests). */
  hostname: string;
  /** The filesystem the instances were made on (where the bytes were counted). */
  filesystem: string;
  count: number;
  writeBytes: number;
  writeVia: WriteVia;
  /** base.qcow2: the image the base was copied from. */
  base: { qcow2: string; virtualBytes: number; qcow2Allocated: number; rawAllocated: number; rawApparent: number; treeAllocated: number };
  sides: DiskSideResult[];
}

async function writeInstance(strategy: CloneStrategy, instance: CloneInstance, plan: DiskPlan): Promise<void> {
  if (instance.merged !== undefined) writeInContainer(instance.merged, plan.writeBytes);
  else if (instance.image === undefined) throw new Error(`${strategy.label}: instance has neither an image nor a merged dir`);
  else if (plan.writeVia === 'guest') await writeInGuest(instance.image, plan.writeBytes, plan.kernel);
  else writeThroughBackend(instance.image, plan.writeBytes);
}

async function measureSide(
  strategy: CloneStrategy,
  plan: DiskPlan,
  base: Awaited<ReturnType<typeof prepareBase>>,
  scratch: string,
): Promise<DiskSideResult> {
  const side: DiskSideResult = {
    kind: strategy.kind,
    label: strategy.label,
    how: strategy.how,
    world: strategy.world,
    sharedBaseBytes: strategy.sharedBaseBytes(base),
    instances: [],
    totalAllocatedByCount: [],
  };
  const why = strategy.unavailable(base, scratch);
  if (why !== null) {
    plan.progress?.({ kind: 'skipped', text: `${strategy.label}: skipped (${why})` });
    return { ...side, unavailable: why };
  }
  const made: CloneInstance[] = [];
  try {
    for (let i = 1; i <= plan.count; i++) {
      const dir = path.join(scratch, strategy.kind, String(i));
      fs.mkdirSync(dir, { recursive: true });
      const t0 = performance.now();
      const instance = strategy.create(base, dir);
      const cloneMs = performance.now() - t0;
      made.push(instance);
      const before = footprintOf(instance.owned);
      const w0 = performance.now();
      await writeInstance(strategy, instance, plan);
      const writeMs = performance.now() - w0;
      side.instances.push({ cloneMs, before, after: footprintOf(instance.owned), writeMs });
      plan.progress?.({ kind: 'instance', text: `${strategy.label}: ${i}/${plan.count}` });
    }
  } finally {
    for (const instance of made) instance.dispose();
  }
  let total = side.sharedBaseBytes;
  for (const s of side.instances) {
    total += s.after.allocatedBytes;
    side.totalAllocatedByCount.push(total);
  }
  return {
    ...side,
    cloneMs: summarize(side.instances.map((s) => s.cloneMs)),
    allocatedBefore: summarize(side.instances.map((s) => s.before.allocatedBytes)),
    allocatedAfter: summarize(side.instances.map((s) => s.after.allocatedBytes)),
  };
}

export async function runDiskSuite(plan: DiskPlan): Promise<DiskResult> {
  if (!Number.isInteger(plan.count) || plan.count < 1) throw new RangeError('count must be a whole number of at least 1');
  if (!(plan.writeBytes > 0) || plan.writeBytes % WRITE_UNIT_BYTES !== 0)
    throw new RangeError(`the write must be a positive multiple of ${WRITE_UNIT_BYTES} bytes`);
  const started = new Date();
  // The host's /tmp: local (overlayfs needs that for upper dirs) and, on PVM hosts, shared with the helper VM under the same path.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-footprint-'));
  try {
    const base = await prepareBase(plan.baseQcow2, scratch);
    const sides: DiskSideResult[] = [];
    for (const strategy of CLONE_STRATEGIES) {
      if (plan.only && !plan.only.includes(strategy.kind)) continue;
      sides.push(await measureSide(strategy, plan, base, scratch));
    }
    return {
      benchmark: 'disk',
      started: started.toISOString(),
      finished: new Date().toISOString(),
      hostname: os.hostname(),
      filesystem: filesystemName(scratch),
      count: plan.count,
      writeBytes: plan.writeBytes,
      writeVia: plan.writeVia,
      base: {
        qcow2: plan.baseQcow2,
        virtualBytes: base.virtualBytes,
        qcow2Allocated: base.footprints.qcow2.allocatedBytes,
        rawAllocated: base.footprints.raw.allocatedBytes,
        rawApparent: base.footprints.raw.apparentBytes,
        treeAllocated: base.footprints.tree.allocatedBytes,
      },
      sides,
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
