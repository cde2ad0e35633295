// The report's charts, each from one benchmark's result: boot-time
// distributions per side, memory per instance per side, disk used against
// instance count, and (density) boot time against instances already running.
// A chart whose benchmark is missing is simply not drawn.
import type { ReportInputs } from './inputs.js';
import { barSvg } from './svg-bars.js';
import { distributionSvg } from './svg-distribution.js';
import { lineSvg } from './svg-lines.js';

export interface Chart {
  /** File name inside the charts folder. */
  name: string;
  /** Alt text / caption. */
  title: string;
  svg: string;
}

const MiB = 1024 * 1024;
/** From this slowest boot on, the boot chart's axis is in seconds. */
const SECONDS_AXIS_FROM_MS = 5_000;

function bootChart(inputs: ReportInputs): Chart | undefined {
  const boot = inputs.boot?.boot;
  if (!boot) return undefined;
  const rows = boot.sides
    .map((s) => ({ label: s.label, samples: (boot.samples[s.side] ?? []).map((b) => b.markerMs) }))
    .filter((r) => r.samples.length > 0);
  if (rows.length === 0) return undefined;
  const title = `Boot: spawn → init's marker, ${boot.runs} runs per side`;
  // Seconds read better once the slowest side takes more than a few of them.
  const inSeconds = Math.max(...rows.flatMap((r) => r.samples)) >= SECONDS_AXIS_FROM_MS;
  const shown = inSeconds ? rows.map((r) => ({ ...r, samples: r.samples.map((v) => v / 1000) })) : rows;
  return { name: 'boot-distribution.svg', title, svg: distributionSvg({ title, axis: inSeconds ? 'seconds' : 'milliseconds', rows: shown }) };
}

function memoryChart(inputs: ReportInputs): Chart | undefined {
  const memory = inputs.memory;
  if (!memory || memory.sides.length === 0) return undefined;
  const title = `Host memory per idle instance (${memory.count} per side)`;
  return {
    name: 'memory-per-instance.svg',
    title,
    svg: barSvg({
      title,
      axis: 'MiB per instance',
      categories: memory.sides.map((s) => s.label),
      series: [
        { name: 'PSS of its processes (median)', values: memory.sides.map((s) => s.pssMiB.median) },
        { name: 'MemAvailable drop', values: memory.sides.map((s) => Math.max(0, s.memAvailableDropPerInstanceMiB)) },
        {
          name: `guest RAM given (${memory.guestMemoryMiB} MiB)`,
          values: memory.sides.map((s) => (s.guestRssMiB ? memory.guestMemoryMiB : undefined)),
        },
        { name: 'guest RAM touched', values: memory.sides.map((s) => s.guestRssMiB?.median) },
      ],
    }),
  };
}

function diskChart(inputs: ReportInputs): Chart | undefined {
  const disk = inputs.disk;
  const sides = disk?.sides.filter((s) => s.unavailable === undefined && s.totalAllocatedByCount.length > 0) ?? [];
  if (!disk || sides.length === 0) return undefined;
  const title = `Disk used by N instances (shared base + each after writing ${disk.writeBytes / MiB} MiB)`;
  return {
    name: 'disk-per-count.svg',
    title,
    svg: lineSvg({
      title,
      xAxis: 'instances',
      yAxis: 'MiB allocated on disk',
      series: sides.map((s) => ({ name: s.label, points: s.totalAllocatedByCount.map((b, i) => [i + 1, b / MiB] as const) })),
    }),
  };
}

function densityChart(inputs: ReportInputs): Chart | undefined {
  const sides = inputs.density?.sides.filter((s) => s.samples.length > 0) ?? [];
  if (sides.length === 0) return undefined;
  const title = 'Density: boot time of each new instance while the others idle';
  return {
    name: 'density-boot.svg',
    title,
    svg: lineSvg({
      title,
      xAxis: 'instances running (including the new one)',
      yAxis: 'seconds to the marker',
      logY: true,
      series: sides.map((s) => ({ name: s.label, points: s.samples.map((p, i) => [i + 1, p.bootMs / 1000] as const) })),
    }),
  };
}

export function buildCharts(inputs: ReportInputs): Chart[] {
  return [bootChart(inputs), memoryChart(inputs), diskChart(inputs), densityChart(inputs)].filter((c): c is Chart => c !== undefined);
}
