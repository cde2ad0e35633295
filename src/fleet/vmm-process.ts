// The VMM process of one detached microVM (`mvm __vmm NAME`, started by
// `mvm run -d`): boots the machine described by vms/NAME/vm.json with the same
// assembly as foreground `mvm run`, keeps state.json current, appends the
// console to console.log, serves the API socket, and ends after writing the
// final state. Its stdout and stderr are vms/NAME/vmm.log.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createApiServer, listenApi, type VmController } from '../api/server.js';
import { DEFAULT_STOP_TIMEOUT_MS, type VmInfo } from '../api/schema.js';
// A process entry point (`mvm __vmm`) that reports failures the way the CLI does (scripts/check-layers.mjs).
import { describeError } from '../cli/errors.js';
import { insideHelper } from '../helper/host-kvm.js';
import { helperVmmDir } from '../helper/vmm-activity.js';
import { exitImmediately } from '../sys/libc.js';
import { assembleVm, type AssembledVm } from '../vmm/vm-assembly.js';
import { readSnapshot } from '../snapshot/snapshot-dir.js';
import { launchFromPlan } from '../vmm/snapshot-launch.js';
import { takeSnapshot } from '../vmm/take-snapshot.js';
import { ConsoleHub } from './console-hub.js';
import { VmLifecycle, type VmIdentity } from './vm-lifecycle.js';
import { checkVmRecord, planFromRecord } from './vm-record.js';
import { VM_FILES, vmDir, vmFile } from './vm-dir.js';
import { stagedSnapshotDir } from './snapshot-staging.js';
import { readJsonFile, writeJsonAtomic, type VmRecord, type VmStatus } from './vm-status.js';
import { collectStats } from './vmm-stats.js';
import { enterVmmJail, vmmOuterPid } from './vmm-jail.js';

/** Process exit statuses of the VMM itself (its VM's fate is in state.json). */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
/** Guest drive names in slot order, as the guest sees them. */
const DRIVE_LETTERS = 'abcdefghijklmnopqrstuvwxyz';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} mvm vmm: ${message}\n`);
}

/** Where the API listens: the VM directory, or inside the helper VM a local directory (9p cannot hold sockets). */
function apiListenPath(name: string, pid: number): string {
  return insideHelper() ? `${helperVmmDir(name, pid)}/${VM_FILES.api}` : vmFile(name, 'api');
}

export async function runVmm(name: string): Promise<void> {
  // The process's own start (before node loaded mvm's modules), like bootMs, which counts from there too.
  const startedAtMs = Math.round(performance.timeOrigin);
  // In its own pid namespace a jailed VMM is pid 1: state.json and the API directory need the pid the host sees.
  const pid = vmmOuterPid();
  const identity: VmIdentity = {
    name,
    pid,
    where: insideHelper() ? 'helper' : 'host',
    apiListen: apiListenPath(name, pid),
    startedAt: new Date(startedAtMs).toISOString(),
  };
  let record: VmRecord | undefined;
  let vm: AssembledVm | undefined;
  let hub: ConsoleHub | undefined;
  let ended = false;
  let snapshot: ReturnType<typeof readSnapshot> | undefined;
  let assemblyStart = 0;
  let jailed = false;
  const server = createApiServer(controller());
  const lifecycle = new VmLifecycle(identity, {
    writeStatus: (status) => writeJsonAtomic(vmFile(name, 'status'), status),
    requestGuestStop: () => vm?.machine.requestGuestStop(),
    // Deferred one turn: the API answer that caused it (POST /kill) goes out first.
    terminate: (final) => setImmediate(() => end(final)),
  });
  log(`starting VM ${name} (pid ${pid}, API on ${identity.apiListen})`);

  function end(final: VmStatus): never {
    if (!ended) {
      ended = true;
      log(
        `VM ${final.state}${final.exitStatus !== null ? ` with status ${final.exitStatus}` : ''}${final.exitReason ? `: ${final.exitReason}` : ''}`,
      );
      // Each step on its own: one failing (the directory removed under us, say) must not keep the process alive.
      const steps: [string, () => void][] = [
        ['closing the console', () => hub?.close()],
        [
          'closing the disks',
          () => {
            for (const problem of vm?.close() ?? []) log(problem);
          },
        ],
        [
          'closing the API socket',
          () => {
            server.close();
            rmSync(identity.apiListen, { force: true });
            // A jailed VMM's API directory is a mount point it cannot remove (an empty leftover in the helper's /run; its dead pid keeps it from counting).
            if (identity.where === 'helper' && !jailed) rmSync(dirname(identity.apiListen), { recursive: true, force: true });
          },
        ],
        ['writing the final state', () => writeJsonAtomic(vmFile(name, 'status'), final)],
      ];
      for (const [what, step] of steps) {
        try {
          step();
        } catch (err) {
          log(`${what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    // The vCPU threads may sit in KVM_RUN: only an immediate exit ends them.
    exitImmediately(final.state === 'failed' ? EXIT_FAILED : EXIT_OK);
  }

  function controller(): VmController {
    return {
      info: (): VmInfo => {
        const status = lifecycle.status;
        const r = record!;
        return {
          name: r.name,
          createdAt: r.createdAt,
          cpus: r.cpus,
          memoryBytes: r.memoryBytes,
          kernel: r.kernel,
          initrd: r.initrd,
          cmdline: r.cmdline,
          console: r.console,
          drives: r.drives,
          nets: r.nets,
          vsock: r.vsock,
          rng: r.rng,
          config: r.config,
          state: status.state,
          pid: status.pid,
          startedAt: status.startedAt,
          uptimeMs: Date.now() - startedAtMs,
          bootMs: status.bootMs,
        };
      },
      stats: () =>
        collectStats({
          uptimeMs: () => Date.now() - startedAtMs,
          bootMs: () => lifecycle.status.bootMs,
          exitCounts: () => vm?.machine.exitCounts() ?? [],
          disks: () => (vm?.blocks ?? []).map((b, i) => ({ name: `vd${DRIVE_LETTERS[i] ?? i}`, stats: b.stats })),
          nets: () => (vm?.nets ?? []).map((n, i) => ({ name: `eth${i}`, stats: n.stats })),
          guestRamHostRanges: () => vm?.machine.guestRamHostRanges ?? [],
        }),
      stop: (timeoutMs) => lifecycle.stop(timeoutMs),
      kill: () => lifecycle.kill('killed (POST /kill)'),
      attachConsole: (socket, head) => (hub ? hub.attach(socket, head) : socket.destroy()),
      snapshot: async (request) => {
        // A jailed VMM can write only inside its VM directory: the snapshot goes there and `mvm snapshot create` moves it out.
        const target = jailed ? stagedSnapshotDir(vmDir(name)) : request.dir;
        if (jailed && existsSync(target))
          return { ok: false, error: `${target} still holds an earlier snapshot that was not moved out: move or remove it first` };
        const state = lifecycle.status.state;
        // A booting guest is refused: its snapshot would restore into a boot half done, and slower than a fresh one.
        if (state !== 'running' || !vm || !record)
          return { ok: false, error: `the VM is ${state}: only a running VM that has booted can be snapshotted` };
        try {
          const launch = launchFromPlan(planFromRecord(record), vm.drives);
          const taken = await takeSnapshot(vm.machine, target, { resume: request.stop !== true, launch, drives: vm.drives });
          log(`snapshot written to ${target} (${taken.memoryDataBytes} bytes of RAM, paused ${Math.round(taken.pausedToDurableMs)} ms)`);
          if (request.stop) lifecycle.kill('stopped after a snapshot');
          return { ok: true, taken: { ...taken, stopped: request.stop === true } };
        } catch (err) {
          return { ok: false, error: describeError(err).message };
        }
      },
    };
  }

  process.on('uncaughtException', (err) => {
    log(`internal error: ${err.stack ?? err.message}`);
    lifecycle.failed(`VMM internal error: ${err.message}`);
  });
  process.on('SIGTERM', () => lifecycle.stop(DEFAULT_STOP_TIMEOUT_MS));
  process.on('SIGINT', () => lifecycle.stop(DEFAULT_STOP_TIMEOUT_MS));
  // Detached: no terminal can hang up on it.
  process.on('SIGHUP', () => undefined);

  try {
    record = checkVmRecord(readJsonFile<unknown>(vmFile(name, 'record')), name);
    hub = new ConsoleHub(vmFile(name, 'console'), (bytes) => vm?.consoleInput(bytes));
    const plan = planFromRecord(record);
    assemblyStart = performance.now();
    snapshot = plan.restoreFrom !== undefined ? readSnapshot(plan.restoreFrom) : undefined;
    vm = assembleVm(
      plan,
      {
        consoleOutput: (bytes) => hub!.output(bytes),
        // performance.now() counts from this process's start: the boot time includes the VMM's own start-up.
        bootComplete: () => lifecycle.booted(performance.now()),
        powerOff: (status) => lifecycle.guestPoweredOff(status),
        panic: (lines) => {
          for (const line of lines) log(line);
          lifecycle.failed(lines[0]!);
        },
        fatal: (lines) => {
          for (const line of lines) log(line);
          lifecycle.failed(lines[0]!);
        },
        halted: (lines) => {
          for (const line of lines) log(line);
          lifecycle.guestHalted();
        },
        warn: (message) => log(message),
      },
      snapshot,
    );
    if (identity.where === 'helper') mkdirSync(dirname(identity.apiListen), { recursive: true, mode: 0o700 });
    await listenApi(server, identity.apiListen);
    // Everything the VM needs is open: into the jail (namespaces, pivot_root, own uid, seccomp) before the first KVM_RUN.
    jailed = enterVmmJail(name, record, identity, log, () => lifecycle.status.bootMs !== null);
  } catch (err) {
    const { message } = describeError(err);
    log(`cannot start: ${message}`);
    lifecycle.failed(message);
    return;
  }
  lifecycle.announce();
  vm.machine.start();
  // A restored guest booted long ago: it is running as soon as its vCPUs are.
  if (snapshot) {
    lifecycle.booted(performance.now());
    log(`restored from ${record.restore}: snapshot read, checked and its machine rebuilt in ${Math.round(performance.now() - assemblyStart)} ms`);
  }
}
