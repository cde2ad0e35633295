// The boot benchmark's measuring side, run where Linux guests can run: on a
// host with VT-x/AMD-V directly, otherwise inside the helper VM (suite.ts
// starts it there through `mvm helper exec`). Boots mvm and QEMU microvm
// alternately, each as a fresh process timed from spawn, and prints the raw
// samples as one JSON line for the suite to summarize.
// Usage: node dist/src/bench/boot/measure.js --runs N --kernel PATH --initrd PATH
import { describeFailure, MVM_CLI, requireMarker, timeProcess } from '../harness.js';
import { BENCH_MARKER, mvmRunArgs, parseMvmTiming, qemuMicrovmArgs, type GuestFiles, type MvmTiming } from './contenders.js';
import { parseMeasureArgs, type BootSamples } from './samples.js';

const QEMU = 'qemu-system-x86_64';
/** Node start plus loading every mvm module is sampled every this many boot pairs. */
const CLI_LOAD_EVERY = 2;

async function bootMvm(files: GuestFiles): Promise<{ wallMs: number; markerMs: number } & MvmTiming> {
  const run = requireMarker('mvm run', await timeProcess(process.execPath, mvmRunArgs(files), { marker: BENCH_MARKER }));
  return { wallMs: run.wallMs, markerMs: run.markerMs, ...parseMvmTiming(run.stderr) };
}

async function bootQemu(files: GuestFiles): Promise<{ wallMs: number; markerMs: number }> {
  const run = requireMarker('QEMU microvm', await timeProcess(QEMU, qemuMicrovmArgs(files), { marker: BENCH_MARKER }));
  return { wallMs: run.wallMs, markerMs: run.markerMs };
}

/** `mvm run --help` loads what `mvm run` loads before its action starts (the CLI loads only the named command's modules), then exits. */
async function timeCliLoad(): Promise<number> {
  const run = await timeProcess(process.execPath, [MVM_CLI, 'run', '--help']);
  if (run.status !== 0) throw new Error(describeFailure('mvm run --help', run));
  return run.wallMs;
}

async function main(): Promise<void> {
  const { runs, files } = parseMeasureArgs(process.argv.slice(2));
  const samples: BootSamples = { runs, mvm: [], qemu: [], cliLoadMs: [] };
  // One untimed boot each: the first read of the kernel and initramfs (over 9p in the helper) is not a VMM cost.
  await bootMvm(files);
  await bootQemu(files);
  for (let i = 0; i < runs; i++) {
    // Alternate the order so slow phases of a shared machine hit both alike.
    if (i % 2 === 0) {
      samples.mvm.push(await bootMvm(files));
      samples.qemu.push(await bootQemu(files));
    } else {
      samples.qemu.push(await bootQemu(files));
      samples.mvm.push(await bootMvm(files));
    }
    // Interleaved with the boots, so it sees the same load on a shared machine.
    if (i % CLI_LOAD_EVERY === 0) samples.cliLoadMs.push(await timeCliLoad());
  }
  process.stdout.write(JSON.stringify(samples) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`boot measure: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
