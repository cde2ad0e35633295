// The in-guest disk benchmark, run where Linux guests run (the CLI moves the
// whole command into the helper VM on hosts like PVM): one image per format
// with the same bytes, then ROUNDS rounds in which each VMM boots once per
// format and runs every workload (workload.ts) on it. The order of the VMMs
// alternates between rounds, so slow phases of a shared machine hit both
// alike. Rates are medians over rounds; ratios are mvm/QEMU of those medians
// (above 1: mvm is faster).
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireMarker, timeProcess } from '../harness.js';
import { summarize, type Summary } from '../stats.js';
import type { GuestFiles } from '../boot/contenders.js';
import { IMAGE_FORMATS, QEMU, VMMS, mvmDiskArgs, qemuDiskArgs, type ImageFormat, type Vmm } from './contenders.js';
import {
  DONE_MARKER,
  MIB,
  WORKLOADS,
  guestScript,
  parseGuestOutput,
  rateOf,
  unitOf,
  type Workload,
  type WorkloadResult,
  type WorkloadSize,
} from './workload.js';

/** One boot with every workload, under software emulation on a shared machine: generous. */
const LIMIT_PER_RUN_MS = 300_000;

export interface GuestDiskPlan {
  rounds: number;
  size: WorkloadSize;
  files: GuestFiles;
  progress: (line: string) => void;
}

export interface RateSummary {
  unit: 'MB/s' | 'ops/s';
  summary: Summary;
}

export interface GuestDiskResult {
  /** 'helper': inside the helper VM (nested KVM under software emulation). */
  location: 'host' | 'helper';
  size: WorkloadSize;
  rounds: number;
  /** Where the images lived (a local filesystem: the helper's 9p shares would measure 9p). */
  imageDir: string;
  samples: Record<Vmm, Record<ImageFormat, Array<Record<Workload, WorkloadResult>>>>;
  rates: Record<Vmm, Record<ImageFormat, Record<Workload, RateSummary>>>;
  /** mvm/QEMU of the median rates, per format and workload. */
  ratios: Array<{ format: ImageFormat; workload: Workload; value: number }>;
}

/** A local filesystem: inside the helper /run is tmpfs, the shared /tmp is 9p. */
function imageParent(): string {
  return process.env['MVM_IN_HELPER'] === '1' ? '/run' : os.tmpdir();
}

/**
 * The raw image full of random bytes (so every qcow2 cluster is allocated and
 * no read is answered from a hole), and a qcow2 copy made by qemu-img, a
 * neutral writer for both VMMs.
 */
function makeImages(dir: string, regionMib: number): Record<ImageFormat, string> {
  const raw = path.join(dir, 'disk.raw');
  const qcow2 = path.join(dir, 'disk.qcow2');
  const fd = openSync(raw, 'w');
  try {
    const chunk = Buffer.alloc(MIB);
    for (let i = 0; i < regionMib; i++) writeSync(fd, randomFillSync(chunk));
  } finally {
    closeSync(fd);
  }
  const convert = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2], { encoding: 'utf8' });
  if (convert.error) throw new Error(`cannot run qemu-img (Debian package qemu-utils): ${convert.error.message}`);
  if (convert.status !== 0) throw new Error(`qemu-img convert failed: ${convert.stderr.trim()}`);
  return { raw, qcow2 };
}

async function bootOnce(vmm: Vmm, format: ImageFormat, image: string, plan: GuestDiskPlan): Promise<Record<Workload, WorkloadResult>> {
  const run = { files: plan.files, image, format, command: ['sh', '-c', guestScript(plan.size)] };
  const [command, args] = vmm === 'mvm' ? [process.execPath, mvmDiskArgs(run)] : [QEMU, qemuDiskArgs(run)];
  const what = `${vmm === 'mvm' ? 'mvm' : 'QEMU microvm'} on ${format}`;
  const done = requireMarker(what, await timeProcess(command, args, { marker: DONE_MARKER, limitMs: LIMIT_PER_RUN_MS }));
  try {
    return parseGuestOutput(done.stdout);
  } catch (err) {
    throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function emptyByVmm<T>(make: () => T): Record<Vmm, Record<ImageFormat, T>> {
  return { mvm: { raw: make(), qcow2: make() }, qemu: { raw: make(), qcow2: make() } };
}

export async function runGuestDiskSuite(plan: GuestDiskPlan, location: 'host' | 'helper'): Promise<GuestDiskResult> {
  const dir = mkdtempSync(path.join(imageParent(), 'mvm-bench-guest-disk-'));
  try {
    const images = makeImages(dir, plan.size.regionMib);
    const samples = emptyByVmm<Array<Record<Workload, WorkloadResult>>>(() => []);
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? VMMS : [...VMMS].reverse();
      for (const format of IMAGE_FORMATS) {
        for (const vmm of order) {
          plan.progress(`round ${round + 1}/${plan.rounds}: ${vmm} on ${format}`);
          samples[vmm][format].push(await bootOnce(vmm, format, images[format], plan));
        }
      }
    }
    const rates = emptyByVmm(() => ({}) as Record<Workload, RateSummary>);
    const ratios: GuestDiskResult['ratios'] = [];
    for (const format of IMAGE_FORMATS) {
      for (const workload of WORKLOADS) {
        for (const vmm of VMMS) {
          rates[vmm][format][workload] = {
            unit: unitOf(workload),
            summary: summarize(samples[vmm][format].map((s) => rateOf(workload, s[workload]))),
          };
        }
        ratios.push({ format, workload, value: rates.mvm[format][workload].summary.median / rates.qemu[format][workload].summary.median });
      }
    }
    return { location, size: plan.size, rounds: plan.rounds, imageDir: imageParent(), samples, rates, ratios };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
