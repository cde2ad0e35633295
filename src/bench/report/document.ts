// The whole report as Markdown: what it is and when, where every benchmark
// ran (and what that does to the numbers), the claims table, one section per
// benchmark, what is missing, and how to regenerate it.
import * as os from 'node:os';
import type { KvmKind } from '../../helper/host-kvm.js';
import { describeKvmKind } from '../../helper/host-kvm.js';
import type { Chart } from './charts.js';
import { claimRows } from './claims.js';
import type { BenchmarkName, ReportInputs } from './inputs.js';
import { day, table } from './markdown-format.js';
import { bootSection, densitySection, diskSection, guestDiskSection, memorySection } from './sections.js';

/** The machine the report is written on (the benchmarks it reads record where they ran themselves). */
export interface HostFacts {
  hostname: string;
  kernel: string;
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  kvm: KvmKind;
}

export function hostFacts(kvm: KvmKind): HostFacts {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    kernel: os.release(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryBytes: os.totalmem(),
    kvm,
  };
}

export interface DocumentOptions {
  inputs: ReportInputs;
  charts: readonly Chart[];
  host: HostFacts;
  /** The charts folder, relative to the Markdown file (for image links). */
  chartFolder: string;
  generated: Date;
  /** Said under "Where this ran" (e.g. what else the machine was doing during the run). */
  note?: string;
}

/** True when the guests ran inside the helper VM, i.e. under software emulation. */
function emulated(inputs: ReportInputs): boolean {
  const environments = [inputs.boot?.boot?.environment, inputs.memory?.environment, inputs.density?.environment];
  return environments.some((e) => e?.where === 'helper');
}

/** ", measured in this run: a VM exit costs … inside the helper against … on this host's own KVM" when the boot benchmark timed both. */
function exitCost(inputs: ReportInputs): string {
  const loops = inputs.boot?.exitLoops;
  const host = loops?.find((l) => l.where === 'host');
  const helper = loops?.find((l) => l.where === 'helper');
  if (!host || !helper) return '';
  return ` (measured in the same boot run: a VM-exit round trip of a C loop takes ${helper.c.median.toFixed(0)} µs inside the helper VM against ${host.c.median.toFixed(1)} µs on this host's own KVM)`;
}

function whereSection(o: DocumentOptions): string[] {
  const { inputs, host } = o;
  const ranWhere = (name: BenchmarkName, started: string | undefined, where: string | undefined): string[] =>
    started === undefined ? [] : [`- \`mvm bench ${name}\` (${day(started)}): ${where ?? 'unknown'}.`];
  const lines = [
    '## Where this ran',
    '',
    `- Host: ${host.hostname}, Linux ${host.kernel}, ${host.cpus} × ${host.cpuModel}, ${(host.memoryBytes / 1024 ** 3).toFixed(1)} GiB; its /dev/kvm: ${describeKvmKind(host.kvm)}.`,
    ...ranWhere('boot', inputs.boot?.started, inputs.boot?.boot.environment.description),
    ...ranWhere('memory', inputs.memory?.started, inputs.memory?.environment.description),
    ...ranWhere(
      'disk',
      inputs.disk?.started,
      inputs.disk &&
        `on the host (${inputs.disk.hostname}) itself: files on its ${inputs.disk.filesystem ?? 'local filesystem'}, overlayfs mounted natively as root${inputs.disk.writeVia === 'guest' ? '; the guests that wrote into the VM disks were booted by `mvm run`, which on this host runs them inside the helper VM' : ''}`,
    ),
    ...ranWhere('density', inputs.density?.started, inputs.density?.environment.description),
  ];
  if (emulated(inputs)) {
    lines.push(
      '',
      `**What the environment does to the numbers.** This host's KVM is PVM, which cannot run unmodified Linux guests, so the VMs and the containers all ran inside mvm's helper VM: QEMU with software-emulated CPUs (TCG) and nested AMD-V. Every VM number is slowed by that emulation${exitCost(inputs)}, and a guest kernel boots in seconds instead of a hundred-odd milliseconds; the containers, in the same emulated machine, are slowed too, though less (they boot no kernel). Compare the sides with each other, within this run; do not read the absolute times as what mvm or runc take on hardware.`,
    );
  }
  if (o.note) lines.push('', `**Note on this run.** ${o.note}`);
  return [...lines, ''];
}

function missingSection(inputs: ReportInputs): string[] {
  if (inputs.missing.length === 0) return [];
  return ['## Missing from this report', '', ...inputs.missing.map((m) => `- ${m.benchmark}: ${m.why} (${m.file}).`), ''];
}

export function reportMarkdown(o: DocumentOptions): string {
  const { inputs, charts, chartFolder } = o;
  const chart = (name: string) => charts.find((c) => c.name === name);
  const claims = claimRows(inputs, emulated(inputs));
  return [
    '# Benchmarks: mvm microVMs, QEMU microvm and runc containers, side by side',
    '',
    `Measured on one machine, in one run of each benchmark, by \`mvm bench\` (report written ${o.generated.toISOString().slice(0, 16).replace('T', ' ')} UTC). Every side runs the same root filesystem (mvm's busybox rootfs) and ends at the same event: its init printing the same marker. Regenerate with \`make bench-report\` (runs the five benchmarks, then this report), or run \`mvm bench boot\`, \`mvm bench memory\`, \`mvm bench disk\`, \`mvm bench density\` and \`mvm bench guest-disk\`, then \`mvm bench report\`.`,
    '',
    ...whereSection(o),
    '## The common claims, measured',
    '',
    table(
      ['claim', 'measured here', 'what it says'],
      claims.map((c) => [c.claim, c.measured, c.comment]),
    ),
    '',
    ...bootSection(inputs, chart('boot-distribution.svg'), chartFolder),
    ...memorySection(inputs, chart('memory-per-instance.svg'), chartFolder),
    ...diskSection(inputs, chart('disk-per-count.svg'), chartFolder),
    ...densitySection(inputs, chart('density-boot.svg'), chartFolder),
    ...guestDiskSection(inputs),
    ...missingSection(inputs),
  ].join('\n');
}
