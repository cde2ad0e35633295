// The file-system benchmark, run where Linux guests run (the CLI moves the
// whole command into the helper VM on hosts like PVM): one shared folder and
// one ext4 image on a local file system, then ROUNDS rounds in which each
// contender (contenders.ts) boots once and runs every phase (workload.ts).
// The order alternates between rounds, so slow phases of a shared machine
// hit all alike. Rates are medians over rounds; the ratios that matter are
// mvm's share over QEMU's share (same virtiofsd, same folder); mvm's share
// over its own virtio-blk disk is reported for context.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireMarker, timeProcess } from '../harness.js';
import { summarize, type Summary } from '../stats.js';
import type { GuestFiles } from '../boot/contenders.js';
import { virtiofsdArgs, virtiofsdPath } from '../../devices/virtio/fs/virtiofsd.js';
import { CONTENDERS, MOUNT_COMMAND, QEMU, mvmDiskArgs, mvmShareArgs, qemuShareArgs, type Contender } from './contenders.js';
import { DONE_MARKER, PHASES, guestScript, parseGuestOutput, rateOf, unitOf, type FsWorkloadSize, type Phase, type PhaseResult } from './workload.js';

/** One boot with every phase, under software emulation on a shared machine: generous. */
const LIMIT_PER_RUN_MS = 600_000;
const SOCKET_WAIT_MS = 20_000;

export interface GuestFsPlan {
  rounds: number;
  size: FsWorkloadSize;
  /** ext4 image size; must hold the sequential file and the small files. */
  diskMib: number;
  files: GuestFiles;
  progress: (line: string) => void;
}

export interface RateSummary {
  unit: 'MB/s' | 'ops/s';
  summary: Summary;
}

export interface GuestFsResult {
  location: 'host' | 'helper';
  size: FsWorkloadSize;
  rounds: number;
  /** Where the folder and the image lived (a local file system: the helper's 9p shares would measure 9p). */
  dataDir: string;
  samples: Record<Contender, Array<Record<Phase, PhaseResult>>>;
  rates: Record<Contender, Record<Phase, RateSummary>>;
  /** mvm's share / QEMU's share, and mvm's share / mvm's disk, of the median rates. */
  ratios: Array<{ phase: Phase; versus: 'qemu-share' | 'mvm-disk'; value: number }>;
}

function dataParent(): string {
  return process.env['MVM_IN_HELPER'] === '1' ? '/run' : os.tmpdir();
}

function makeExt4(image: string, mib: number): void {
  const made = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', image, `${mib}M`], { encoding: 'utf8' });
  if (made.error) throw new Error(`cannot run mke2fs (Debian package e2fsprogs): ${made.error.message}`);
  if (made.status !== 0) throw new Error(`mke2fs failed: ${made.stderr.trim()}`);
}

/** virtiofsd for QEMU, as mvm starts its own; resolves once its socket exists. */
async function startQemuVirtiofsd(directory: string, dir: string): Promise<{ socket: string; child: ChildProcess }> {
  const socket = path.join(dir, 'qemu-virtiofsd.sock');
  rmSync(socket, { force: true });
  const log = openSync(path.join(dir, 'qemu-virtiofsd.log'), 'a');
  const child = spawn(virtiofsdPath(), virtiofsdArgs(directory, socket), { stdio: ['ignore', log, log] });
  closeSync(log);
  const deadline = Date.now() + SOCKET_WAIT_MS;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`virtiofsd for QEMU did not open ${socket} (log: ${path.join(dir, 'qemu-virtiofsd.log')})`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { socket, child };
}

async function bootOnce(contender: Contender, plan: GuestFsPlan, share: string, image: string, dir: string): Promise<Record<Phase, PhaseResult>> {
  const command = ['sh', '-c', guestScript(MOUNT_COMMAND[contender], plan.size)];
  let daemon: { socket: string; child: ChildProcess } | undefined;
  let run: [string, string[]];
  if (contender === 'mvm-share') run = [process.execPath, mvmShareArgs(plan.files, command, share)];
  else if (contender === 'mvm-disk') run = [process.execPath, mvmDiskArgs(plan.files, command, image)];
  else {
    daemon = await startQemuVirtiofsd(share, dir);
    run = [QEMU, qemuShareArgs(plan.files, command, daemon.socket)];
  }
  try {
    const done = requireMarker(contender, await timeProcess(run[0], run[1], { marker: DONE_MARKER, limitMs: LIMIT_PER_RUN_MS }));
    return parseGuestOutput(done.stdout);
  } catch (err) {
    throw new Error(`${contender}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    daemon?.child.kill('SIGTERM');
  }
}

export async function runGuestFsSuite(plan: GuestFsPlan, location: 'host' | 'helper'): Promise<GuestFsResult> {
  const dir = mkdtempSync(path.join(dataParent(), 'mvm-bench-guest-fs-'));
  try {
    const share = path.join(dir, 'share');
    mkdirSync(share);
    const image = path.join(dir, 'disk.ext4');
    makeExt4(image, plan.diskMib);
    const samples = { 'mvm-share': [], 'mvm-disk': [], 'qemu-share': [] } as Record<Contender, Array<Record<Phase, PhaseResult>>>;
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse();
      for (const contender of order) {
        plan.progress(`round ${round + 1}/${plan.rounds}: ${contender}`);
        samples[contender].push(await bootOnce(contender, plan, share, image, dir));
      }
    }
    const rates = {} as Record<Contender, Record<Phase, RateSummary>>;
    for (const contender of CONTENDERS) {
      rates[contender] = {} as Record<Phase, RateSummary>;
      for (const phase of PHASES) {
        rates[contender][phase] = { unit: unitOf(phase), summary: summarize(samples[contender].map((s) => rateOf(phase, s[phase]))) };
      }
    }
    const ratios: GuestFsResult['ratios'] = PHASES.flatMap((phase) =>
      (['qemu-share', 'mvm-disk'] as const).map((versus) => ({
        phase,
        versus,
        value: rates['mvm-share'][phase].summary.median / rates[versus][phase].summary.median,
      })),
    );
    return { location, size: plan.size, rounds: plan.rounds, dataDir: dataParent(), samples, rates, ratios };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
