// `mvm snapshot create NAME DIR [--stop]`: pauses a detached VM, writes its
// snapshot (state + sparse memory file) to DIR and resumes it, or ends it
// with --stop; `mvm run --restore DIR` starts VMs from it.
// `mvm snapshot inspect DIR`: what a snapshot holds, after checking all of it.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { findVm } from '../../fleet/lookup.js';
import { snapshotVm } from '../../fleet/vm-control.js';
import { readSnapshot } from '../../snapshot/snapshot-dir.js';
import { formatSize } from '../../units/size.js';

function inspectLines(dir: string): string[] {
  const { state, memoryPath } = readSnapshot(dir);
  const m = state.machine;
  const launch = state.launch;
  const lines = [
    `snapshot ${dir}`,
    `  created     ${state.createdAt}`,
    `  machine     ${m.cpus} vCPU${m.cpus === 1 ? '' : 's'}, ${formatSize(m.memoryBytes)} RAM`,
    `  memory      ${memoryPath}`,
    `  cmdline     ${m.cmdline}`,
    `  kernel      ${String(launch['kernelPath'] ?? '?')}`,
    `  devices     ${m.virtio.length === 0 ? 'no virtio devices' : m.virtio.map((d, i) => `${i}:${d.name}${state.virtio[i]!.active ? '' : ' (not started)'}`).join(', ')}`,
  ];
  const drives = Array.isArray(launch['drives']) ? (launch['drives'] as Record<string, unknown>[]) : [];
  drives.forEach((d, i) => {
    lines.push(
      `  disk ${i}      ${typeof d['layer'] === 'string' ? `${join(dir, d['layer'])} (frozen layer; each restore writes to its own overlay)` : `${String(d['readOnlyPath'])} (read-only)`}`,
    );
  });
  for (const v of state.vcpus) lines.push(`  vCPU ${v.id}      MP state ${v.mpState}, ${v.msrs.length} MSRs, TSC ${v.tscKhz} kHz`);
  return lines;
}

export function register(program: Command): void {
  const snapshot = program.command('snapshot').description("save a running VM's memory and state, to restore it later (mvm run --restore)");
  snapshot
    .command('create')
    .description('pause a detached VM, write its snapshot to DIR (a new or empty directory) and resume it')
    .argument('<name>', 'the detached VM')
    .argument('<dir>', 'where the snapshot goes')
    .option('--stop', 'stop the VM once its snapshot is on disk instead of resuming it')
    .action(async (name: string, dir: string, options: { stop?: boolean }) => {
      const entry = findVm(name);
      const taken = await snapshotVm(entry, resolve(dir), options.stop === true);
      process.stdout.write(
        `${taken.dir}: ${formatSize(taken.memoryDataBytes)} of guest RAM written (${formatSize(taken.memoryAllocatedBytes)} on disk), VM paused ${Math.round(taken.pausedToDurableMs)} ms, ${taken.stopped ? 'then stopped' : 'then resumed'}\n`,
      );
    });
  snapshot
    .command('inspect')
    .description('check a snapshot and print what it holds')
    .argument('<dir>', 'the snapshot directory')
    .action((dir: string) => {
      process.stdout.write(`${inspectLines(resolve(dir)).join('\n')}\n`);
    });
}
