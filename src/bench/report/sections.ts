// One Markdown section per benchmark: what was measured and how, the table,
// and the chart when there is one. Numbers are the benchmarks' own; nothing
// here measures.
import { STOP_LABELS } from '../density/table.js';
import type { Chart } from './charts.js';
import type { ImageFormat, Vmm } from '../guest-disk/contenders.js';
import { WORKLOADS, type Workload } from '../guest-disk/workload.js';
import type { ReportInputs } from './inputs.js';
import { bytes, mib, ms, ratio, table } from './markdown-format.js';

const MiB = 1024 * 1024;

function image(chart: Chart | undefined, folder: string): string[] {
  return chart ? ['', `![${chart.title}](${folder}/${chart.name})`] : [];
}

export function bootSection(inputs: ReportInputs, chart: Chart | undefined, folder: string): string[] {
  const boot = inputs.boot?.boot;
  if (!boot) return [];
  const rows = boot.sides.map((s) => [
    s.label,
    String(s.markerMs.n),
    ms(s.markerMs.median),
    ms(s.markerMs.p90),
    ms(s.markerMs.p99),
    ms(s.exitMs.median),
    ms(s.exitMs.p99),
  ]);
  const out = [
    '## Boot time',
    '',
    `Spawn of the instance's process → its init printing the marker (the same init and marker on every side), and → the process has exited. ${boot.runs} runs per side, ${boot.parallel} at a time. Percentiles are nearest-rank: with fewer than 100 runs p99 is the slowest run.`,
    '',
    table(['side', 'runs', 'p50', 'p90', 'p99', 'exit p50', 'exit p99'], rows, 'lrrrrrr'),
  ];
  if (boot.ratios.length > 0) {
    out.push('', 'Ratios of medians (below 1: the first side is faster):', '');
    out.push(
      table(
        ['ratio', 'value', 'goal'],
        boot.ratios.map((r) => [r.label, ratio(r.value), r.goal ?? '']),
        'lrl',
      ),
    );
  }
  const b = boot.mvmBreakdown;
  if (b) {
    out.push(
      '',
      `mvm's boot in parts (medians): Node start and module loading ${ms(b.nodeAndModulesMs.median)}, VMM setup to the first KVM_RUN ${ms(b.vmmSetupMs.median)}, kernel to init ${ms(b.kernelToInitMs.median)}, init to the marker ≈ ${ms(b.initToMarkerMs)}.`,
    );
  }
  for (const s of boot.skipped) out.push('', `Not measured: ${s.side} — ${s.reason}.`);
  out.push('', `Kernel command line of the VM sides: \`${boot.kernelCmdline}\``);
  return [...out, ...image(chart, folder), ''];
}

export function memorySection(inputs: ReportInputs, chart: Chart | undefined, folder: string): string[] {
  const memory = inputs.memory;
  if (!memory) return [];
  const rows = memory.sides.map((s) => [
    s.label,
    String(s.count),
    mib(s.pssMiB.median),
    mib(s.memAvailableDropPerInstanceMiB),
    s.guestRssMiB ? `${mib(s.guestRssMiB.median)} of ${memory.guestMemoryMiB} MiB` : 'shares the kernel',
    s.vmmOverheadRssMiB ? mib(s.vmmOverheadRssMiB.median) : '–',
  ]);
  const out = [
    '## Memory per instance',
    '',
    `${memory.count} idle instances of each side, one side at a time, measured after ${Math.round(memory.idleMs / 1000)} s idle. PSS: proportional set size summed over the instance's processes (shared pages divided among their users). MemAvailable drop: the machine's MemAvailable before minus after starting them, per instance. For VMMs the process is split as Firecracker measures it: guest RAM mappings against everything else (the VMM's own overhead).`,
    '',
    table(['side', 'instances', 'PSS (median)', 'MemAvailable drop', 'guest RAM touched', 'VMM overhead (RSS)'], rows, 'lrrrrr'),
  ];
  for (const s of memory.skipped) out.push('', `Not measured: ${s.side} — ${s.reason}.`);
  return [...out, ...image(chart, folder), ''];
}

export function diskSection(inputs: ReportInputs, chart: Chart | undefined, folder: string): string[] {
  const disk = inputs.disk;
  if (!disk) return [];
  const measured = disk.sides.filter((s) => s.unavailable === undefined);
  const rows = measured.map((s) => [
    s.label,
    ms(s.cloneMs!.median),
    bytes(s.allocatedBefore!.median),
    bytes(s.allocatedAfter!.median),
    bytes(s.totalAllocatedByCount.at(-1)!),
    s.how,
  ]);
  const how =
    disk.writeVia === 'guest'
      ? `each VM disk was booted as the root filesystem of a guest (\`mvm run --disk IMAGE,persistent\`) that wrote a ${disk.writeBytes / MiB} MiB file of random bytes with dd and synced, so ext4's metadata and journal writes count too`
      : `${disk.writeBytes / MiB} MiB of random bytes were written straight into each VM disk through mvm's disk layer (no guest, so no filesystem metadata)`;
  const out = [
    '## Disk per instance',
    '',
    `${disk.count} instances of each kind from one base, the ext4 root disk (${bytes(disk.base.virtualBytes)} virtual; ${bytes(disk.base.qcow2Allocated)} as qcow2, ${bytes(disk.base.rawAllocated)} as a sparse raw file, ${bytes(disk.base.treeAllocated)} unpacked). Bytes are allocated blocks (st_blocks × 512), not apparent sizes, on the host's ${disk.filesystem ?? 'local filesystem'}. After being made, ${how}; the container's instance wrote the same file into its merged overlayfs root. The last column adds the shared base once.`,
    '',
    table(['kind', 'make one (median)', 'on disk, new', 'after the write', `${disk.count} instances + base`, 'how'], rows, 'lrrrrl'),
  ];
  for (const s of disk.sides.filter((x) => x.unavailable !== undefined)) out.push('', `Not measured: ${s.label} — ${s.unavailable}.`);
  return [...out, ...image(chart, folder), ''];
}

export function densitySection(inputs: ReportInputs, chart: Chart | undefined, folder: string): string[] {
  const density = inputs.density;
  if (!density) return [];
  const measured = density.sides.filter((s) => s.unavailable === undefined);
  const rows = measured.map((s) => [
    s.label,
    String(s.reached),
    s.stop ? STOP_LABELS[s.stop.reason] : '',
    s.bootMs ? ms(s.bootMs.median) : '–',
    s.bootMs ? ms(s.bootMs.p99) : '–',
    s.bytesPerInstance !== undefined ? mib(s.bytesPerInstance / MiB) : '–',
    s.instancesPerGiB !== undefined ? s.instancesPerGiB.toFixed(1) : '–',
  ]);
  const out = [
    '## Density',
    '',
    `Idle instances of one side at a time, started one after another and left running, until the p99 boot time of the last 5 reached twice that of the first 5, MemAvailable fell below 10 %, the cap (${density.maxInstances}) or the time budget (${density.budgetSeconds} s per side) was reached. A cap or a budget is a limit chosen to keep the run short, not the machine's limit. Instances per GiB = 1 GiB / (MemAvailable taken / instances up).`,
    '',
    table(['side', 'instances up', 'stopped by', 'boot p50', 'boot p99', 'memory each', 'per GiB'], rows, 'lrlrrrr'),
    '',
    ...measured.filter((s) => s.stop).map((s) => `- ${s.label}: ${s.stop!.detail}.`),
  ];
  for (const s of density.sides.filter((x) => x.unavailable !== undefined)) out.push(`- Not measured: ${s.label} — ${s.unavailable}.`);
  return [...out, ...image(chart, folder), ''];
}

const WORKLOAD_LABELS: Record<Workload, string> = {
  seqwrite: 'sequential write, 1 MiB',
  seqread: 'sequential read, 1 MiB',
  randwrite: 'random write, 4 KiB',
  randread: 'random read, 4 KiB',
};

export function guestDiskSection(inputs: ReportInputs): string[] {
  const g = inputs.guestDisk;
  if (!g) return [];
  const rate = (vmm: Vmm, format: ImageFormat, w: Workload): string => {
    const r = g.rates[vmm]?.[format]?.[w];
    return r ? r.summary.median.toFixed(r.unit === 'MB/s' ? 1 : 0) : '–';
  };
  const speedRatio = (format: ImageFormat, w: Workload): string => {
    const a = g.rates.mvm?.[format]?.[w],
      b = g.rates.qemu?.[format]?.[w];
    return a && b && b.summary.median > 0 ? ratio(a.summary.median / b.summary.median) : '–';
  };
  const rows = WORKLOADS.map((w) => [
    WORKLOAD_LABELS[w],
    g.rates.mvm?.raw?.[w]?.unit ?? '',
    rate('mvm', 'raw', w),
    rate('qemu', 'raw', w),
    speedRatio('raw', w),
    rate('mvm', 'qcow2', w),
    rate('qemu', 'qcow2', w),
    speedRatio('qcow2', w),
  ]);
  const where =
    g.location === 'helper'
      ? "inside the helper VM, where both VMMs run their guest on nested KVM under software emulation: every VM exit costs far more than on hardware, and so does the VMM's own work per request"
      : "on this host's KVM";
  return [
    '## Disk I/O inside the guest',
    '',
    `mvm-diskbench (a static tool in the guest image) on /dev/vda with O_DIRECT: ${g.size.sequentialBlocks} sequential 1 MiB blocks and ${g.size.randomOps} random 4 KiB operations over a ${g.size.regionMib} MiB region, writes ending with fdatasync. The same bytes as a raw image and as a qcow2 image made by qemu-img, written in place by both VMMs (mvm and QEMU microvm, 1 vCPU each), ${where}. Medians of ${g.rounds} rounds; mvm / QEMU above 1 means mvm is faster.`,
    '',
    table(['workload', 'unit', 'mvm raw', 'QEMU raw', 'mvm / QEMU', 'mvm qcow2', 'QEMU qcow2', 'mvm / QEMU'], rows, 'llrrrrrr'),
    '',
  ];
}
