// `mvm run`: boots a microVM in the foreground with its console on this
// terminal, like `docker run -it` (or `docker run IMAGE CMD` with a command).
// On hosts whose KVM cannot run Linux guests the same command runs inside the
// helper VM (src/helper), transparently apart from a one-line notice.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { runViaHelperIfNeeded } from '../../helper/client.js';
import { relayVsockIfForwarded } from '../../helper/vsock-relay.js';
import { constants as osConstants } from 'node:os';
import { exitImmediately, setParentDeathSignal } from '../../sys/libc.js';
import { projectRoot } from '../../runtime/paths.js';
import { parseSize } from '../../units/size.js';
import { parseElfKernel } from '../../loader/elf.js';
import { CONSOLE_ESCAPE_NAME, ConsoleIo, writeAll } from '../../vmm/console-io.js';
import {
  CONSOLE_DEVICES,
  DEFAULT_BOOT_ARGS,
  commandParameter,
  defaultBootArgs,
  rootDiskParameters,
  type ConsoleDevice,
} from '../../vmm/default-cmdline.js';
import { assembleVm, type AssembledVm, type VmPlan } from '../../vmm/vm-assembly.js';
import type { DriveSettings, NetSettings, ShareSettings, VsockSettings } from '../../devices/settings.js';
import { checkShares, parseShareFlag, shareSettings } from '../../config/share-option.js';
import { flagSetting } from '../../config/setting-error.js';
import { checkVirtiofsdInstalled } from '../../devices/virtio/fs/virtiofsd.js';
import { checkSharesReachable } from '../../helper/share-reach.js';
import { parseDriveFlag } from '../../config/drive-option.js';
import { parseNetFlag } from '../../config/net-option.js';
import { parseVsockFlag } from '../../config/vsock-option.js';
import { runDetached } from '../../fleet/detach.js';
import { applyConfigFile } from '../../config/apply.js';
import { UserError } from '../../errors.js';
import { readSnapshot } from '../../snapshot/snapshot-dir.js';
import { planFromLaunch } from '../../vmm/snapshot-launch.js';
import { agentReadsSerial, requestAtResume, restoreRequest, templateCommand, templateWatcher } from './run-template.js';
import { jailWanted, lockDownVmm, NO_JAIL_ENV, UNJAILED_WARNING } from '../../vmm/jail/lock-down.js';

interface RunOptions {
  kernel?: string;
  initrd?: string;
  cpus: string;
  memory: string;
  bootArgs?: string;
  append?: string[];
  interactive?: boolean;
  timing?: boolean;
  /** --disk, --net and --vsock are parsed as commander reads them, so a --config file's devices join them as settings. */
  disk?: DriveSettings[];
  rng: boolean;
  net?: NetSettings[];
  vsock?: VsockSettings;
  share?: ShareSettings[];
  rootShare?: string;
  console: string;
  detach?: boolean;
  name?: string;
  restore?: string;
  snapshotAfterBoot?: string;
  /** false with --no-jail (or `jail = false` in the ini file). */
  jail: boolean;
}

/**
 * Exit statuses of the VMM itself (the guest's own status passes through
 * otherwise; README: "Exit statuses"). 124 is left alone: timeout(1) uses it,
 * and mvm often runs under timeout in scripts.
 */
const EXIT_GUEST_CRASHED = 125;
/** The guest kernel panicked (PID 1 exiting included): panic=-1 resets and the panic line is on the console. */
const EXIT_GUEST_PANICKED = 123;
/** Every vCPU halted with interrupts disabled: halt -f, poweroff -f (Linux halts when it cannot power off), a dead guest. */
const EXIT_GUEST_HALTED = 122;
const EXIT_STOPPED_BY_ESCAPE = 130;
const EXIT_SIGNALLED_BASE = 128;

const DEFAULT_KERNEL = 'images/out/vmlinux';
const DEFAULT_INITRD = 'images/out/initramfs.cpio.gz';

function checkGuestFile(path: string, what: string, hint: string): void {
  if (!existsSync(path)) throw new UserError(`${what} ${path} does not exist${hint}`);
  if (!statSync(path).isFile()) throw new UserError(`${what} ${path} is not a regular file`);
}

function parseCpus(text: string): number {
  const cpus = Number(text);
  if (!Number.isInteger(cpus) || cpus < 1) throw new UserError(`--cpus must be a whole number of at least 1, not "${text}"`);
  return cpus;
}

function parseConsole(text: string): ConsoleDevice {
  const device = CONSOLE_DEVICES.find((d) => d === text);
  if (!device) throw new UserError(`--console must be ${CONSOLE_DEVICES.join(' or ')}, not "${text}"`);
  return device;
}

function buildCmdline(options: RunOptions, command: readonly string[]): string {
  const words = [options.bootArgs ?? defaultBootArgs(parseConsole(options.console)), ...(options.append ?? [])];
  // --initrd '' with a disk boots that disk: root=/dev/vda and friends unless the user chose otherwise.
  words.push(
    ...rootDiskParameters({
      initrd: options.initrd !== '',
      disks: options.disk?.length ?? 0,
      replacedCommandLine: options.bootArgs !== undefined,
      appended: options.append ?? [],
    }),
  );
  if (options.rootShare !== undefined && options.bootArgs === undefined) {
    // The kernel mounts the virtio-fs tag itself (rootfstype=virtiofs); the rest as for a root disk.
    words.push(`rootfstype=virtiofs`, `root=${ROOT_SHARE_TAG}`, 'rw', 'init=/init', 'devtmpfs.mount=0');
  }
  const mounts = (options.share ?? []).filter((s) => s.mountPoint !== undefined).map((s) => `${s.tag}:${s.mountPoint}`);
  // The guest's init mounts these (firmware/init): TAG:/PATH,TAG:/PATH.
  if (mounts.length > 0) words.push(`mvm.shares=${mounts.join(',')}`);
  if (command.length > 0) words.push(commandParameter(command));
  return words.filter((w) => w.length > 0).join(' ');
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A repeatable option whose values are parsed one by one. */
function collectParsed<T>(parse: (text: string) => T): (value: string, previous?: T[]) => T[] {
  return (value, previous = []) => [...previous, parse(value)];
}

/** The mount tag of the share --root-share boots from. */
const ROOT_SHARE_TAG = 'mvm-root';

/** --root-share first (it is /), then every --share; refused as one line before anything starts. */
function planShares(options: RunOptions): ShareSettings[] {
  const root = options.rootShare;
  const shares = [
    ...(root !== undefined ? [flagSetting('--root-share', root, () => shareSettings(root, { tag: ROOT_SHARE_TAG }))] : []),
    ...(options.share ?? []),
  ];
  if (shares.length === 0) return shares;
  flagSetting('--share', shares.map((s) => s.path).join(' '), () => checkShares(shares));
  checkVirtiofsdInstalled();
  checkSharesReachable(shares);
  return shares;
}

function planRun(command: readonly string[], options: RunOptions): VmPlan {
  const root = projectRoot();
  const kernelPath = resolve(options.kernel ?? resolve(root, DEFAULT_KERNEL));
  if (options.rootShare !== undefined && options.initrd !== undefined && options.initrd !== '') {
    throw new UserError('--root-share boots from the shared directory: it cannot be combined with --initrd', 2);
  }
  if (options.rootShare !== undefined && options.disk?.length && options.initrd === '') {
    throw new UserError('--root-share boots from the shared directory; drop --initrd "" (the first --disk would be the root)', 2);
  }
  const shares = planShares(options);
  const initrdPath = options.initrd === '' || options.rootShare !== undefined ? undefined : resolve(options.initrd ?? resolve(root, DEFAULT_INITRD));
  checkGuestFile(kernelPath, 'kernel', options.kernel ? '' : ' (build it with `make images`, or pass --kernel)');
  // Parsed here, on the host, so a wrong file is refused before a VMM (or the helper VM) starts;
  // the VMM parses it again when it loads it (~10 ms for a 17 MB vmlinux).
  parseElfKernel(readFileSync(kernelPath));
  if (initrdPath) checkGuestFile(initrdPath, 'initrd', options.initrd ? '' : ' (build it with `make images`, or pass --initrd)');
  return {
    kernelPath,
    initrdPath,
    memoryBytes: parseSize(options.memory, 'memory size'),
    cpus: parseCpus(options.cpus),
    cmdline: buildCmdline(options, command),
    console: parseConsole(options.console),
    drives: options.disk ?? [],
    nets: options.net ?? [],
    vsock: options.vsock,
    rng: options.rng,
    shares,
  };
}

/**
 * The plan of a VM restored from a snapshot: everything comes from the
 * snapshot (checked whole here, before anything starts), so options that
 * would describe another machine are refused rather than ignored.
 */
function planRestore(command: readonly string[], options: RunOptions, self: Command): VmPlan {
  const given = ['kernel', 'initrd', 'bootArgs', 'append', 'disk', 'net', 'cpus', 'memory', 'console', 'rng', 'config'].filter(
    (key) => self.getOptionValueSource(key) === 'cli' || self.getOptionValueSource(key) === 'config',
  );
  if (given.length > 0)
    throw new UserError(
      `--restore takes the machine from the snapshot: --${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} cannot be used with it`,
      2,
    );
  const dir = resolve(options.restore!);
  const { state } = readSnapshot(dir);
  if (command.length > 0) restoreRequest(state.launch, command, options);
  const plan = planFromLaunch(state.launch, state.machine, dir);
  if (options.vsock === undefined) return plan;
  // A clone's own CID and socket: the guest reads the CID again after the transport reset a restore sends.
  if (plan.vsock === undefined) throw new UserError("--vsock with --restore replaces the snapshot's vsock device, and this snapshot has none", 2);
  return { ...plan, vsock: options.vsock };
}

async function runLocally(plan: VmPlan, command: readonly string[], options: RunOptions): Promise<void> {
  const actionStart = performance.now();
  const interactive = process.env['MVM_INTERACTIVE'] === '1' || (process.stdin.isTTY === true && command.length === 0);
  const forwardInput = interactive || options.interactive === true;
  let bootMs: number | undefined;
  let firstRunMs = 0;

  let vm: AssembledVm;
  const finish = (status: number, message?: string[]) => {
    console_.release();
    for (const problem of vm.close()) writeAll(2, Buffer.from(`mvm: ${problem}\n`));
    if (message) writeAll(2, Buffer.from(`${message.map((l) => `mvm: ${l}`).join('\n')}\n`));
    if (options.timing) {
      const now = performance.now();
      const exits = vm.machine.exitCounts().reduce((sum, c) => sum + c.io + c.mmio, 0);
      const boot =
        bootMs === undefined
          ? 'never signalled boot-complete'
          : `boot to userspace ${Math.round(bootMs - actionStart)} ms (VMM setup ${Math.round(firstRunMs - actionStart)} ms, kernel + init ${Math.round(bootMs - firstRunMs)} ms)`;
      writeAll(2, Buffer.from(`mvm: ${boot}; ran ${Math.round(now - actionStart)} ms; ${exits} I/O exits\n`));
    }
    exitImmediately(status);
  };

  const console_ = new ConsoleIo({
    forwardInput,
    interactive,
    onInput: (bytes) => vm.consoleInput(bytes),
    onEscape: () => finish(EXIT_STOPPED_BY_ESCAPE, [`stopped the VM (${CONSOLE_ESCAPE_NAME} pressed)`]),
  });

  const template =
    options.snapshotAfterBoot !== undefined
      ? templateWatcher(
          resolve(options.snapshotAfterBoot),
          plan,
          () => vm,
          (status, lines) => finish(status, lines),
        )
      : undefined;
  vm = assembleVm(
    plan,
    {
      consoleOutput: (bytes) => {
        console_.write(bytes);
        template?.(bytes);
      },
      bootComplete: () => {
        bootMs ??= performance.now();
      },
      powerOff: (status) => finish(status),
      panic: (lines) => finish(EXIT_GUEST_PANICKED, lines),
      fatal: (lines) => finish(EXIT_GUEST_CRASHED, lines),
      halted: (lines) => finish(EXIT_GUEST_HALTED, lines),
      warn: (message) => writeAll(2, Buffer.from(`mvm: ${message}\n`)),
    },
    plan.restoreFrom !== undefined ? readSnapshot(plan.restoreFrom) : undefined,
  );

  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    process.on(signal, () => finish(EXIT_SIGNALLED_BASE + number, [`stopped the VM (${signal})`]));
  }
  if (interactive) writeAll(2, Buffer.from(`mvm: console attached; ${CONSOLE_ESCAPE_NAME} stops the VM\n`));
  console_.attach();
  // A foreground VMM keeps the caller's namespaces and uid (it is the caller's process): no_new_privs and the seccomp filter only.
  if (jailWanted()) lockDownVmm();
  else writeAll(2, Buffer.from(`mvm: ${UNJAILED_WARNING}\n`));
  firstRunMs = performance.now();
  vm.machine.start();
  // A clone of a template: its agent waits for this line (src/vmm/guest-agent.ts).
  if (plan.restoreFrom !== undefined && command.length > 0) {
    const request = requestAtResume(command);
    if (agentReadsSerial(plan.cmdline)) vm.machine.serial.receive(request);
    else vm.consoleInput(request);
  }
}

/** -d/--name combinations that make no sense, refused before anything starts. */
function checkDetachOptions(options: RunOptions): void {
  if (!options.detach) {
    if (options.name !== undefined) throw new UserError('--name names a detached VM: use it with -d', 2);
    return;
  }
  if (options.interactive) throw new UserError('-i cannot be used with -d (attach to the console later: mvm console NAME)', 2);
  if (options.timing) throw new UserError('--timing cannot be used with -d (the boot time is in mvm ps and the API)', 2);
}

export function register(program: Command): void {
  program
    .command('run')
    .description('boot a microVM with its console on this terminal; with a command, run it in the guest and exit with its status')
    .argument('[command...]', 'command to run in the guest instead of an interactive shell (put it after --)')
    .option('--kernel <path>', `guest kernel, an x86-64 vmlinux ELF (default ${DEFAULT_KERNEL})`)
    .option('--initrd <path>', `initramfs (default ${DEFAULT_INITRD}; "" for none)`)
    .option('-c, --cpus <n>', 'number of vCPUs', '1')
    .option('-m, --memory <size>', 'guest RAM, e.g. 256M or 2G', '256M')
    .option(
      '--console <device>',
      'the guest console: virtio (hvc0: a whole write per queue notification) or serial (ttyS0: a VM exit per byte)',
      'virtio',
    )
    .addOption(
      new Option('--boot-args <line>', 'replace the default kernel command line').default(
        undefined,
        DEFAULT_BOOT_ARGS.replace('console=ttyS0', 'console=hvc0|ttyS0'),
      ),
    )
    .option('--append <param>', 'add a kernel command-line parameter (repeatable)', collect)
    .option('-i, --interactive', 'forward stdin to the guest console even when it is not a terminal')
    .option(
      '--disk <path[,persistent|,ro]>',
      'attach a disk image (raw or qcow2) as /dev/vda, vdb…: by default through a throw-away copy-on-write overlay; ",persistent" writes to the image, ",ro" is read-only (repeatable)',
      collectParsed(parseDriveFlag),
    )
    // On by default: a guest without an entropy source can stall early in boot waiting for the CRNG, and the device costs nothing until read.
    .option(
      '--net <tap=NAME[,mac=MAC]>',
      'attach a virtio-net NIC on a tap interface (repeatable); give the guest its address with --append ip=…',
      collectParsed(parseNetFlag),
    )
    .option(
      '--vsock <cid=N[,uds=PATH]>',
      'attach a virtio-vsock device with guest CID N (3 or more); host programs connect to the unix socket PATH and write "CONNECT <port>\\n", guest connections to host port P reach PATH_P (default PATH: ./mvm-<pid>.vsock)',
      parseVsockFlag,
    )
    .option(
      '--share <hostdir[,tag=TAG][,ro][,mount=/PATH]>',
      'share a host directory with the guest over virtio-fs (one virtiofsd each); the guest mounts it with `mount -t virtiofs TAG DIR` (TAG defaults to the directory name), or mvm mounts it at /PATH; ",ro" refuses writes (repeatable)',
      collectParsed(parseShareFlag),
    )
    .option(
      '--root-share <hostdir>',
      'boot with a shared host directory as the root filesystem (it must hold a root filesystem with /init), no initramfs or disk needed',
    )
    .option('--no-rng', 'do not give the guest a virtio-rng entropy device')
    .option('--no-jail', 'debugging only: run the VMM unconfined (no seccomp filter, namespaces or own uid); says so loudly')
    .option('--timing', 'print boot time and exit counts on stderr when the VM stops')
    .option('-d, --detach', 'start the VM in the background and print its name once it has booted (see mvm ps, mvm stop)')
    .option('--name <name>', "the detached VM's name (default: generated, like swift-heron-4821)")
    .option(
      '--restore <dir>',
      'start the VM from a snapshot (mvm snapshot create) instead of booting: it resumes what it was running (--vsock gives it another CID and socket)',
    )
    .option(
      '--snapshot-after-boot <dir>',
      'boot, wait until the guest agent waits for a command, snapshot the VM into DIR and stop it: a template for mvm run --restore DIR -- CMD',
    )
    .option(
      '--config <file>',
      'read the VM from an ini file ([machine], [kernel], [drive.NAME]…: see examples/*.ini); flags given here override it, --disk/--net/--append add to it',
    )
    .action(async (command: string[], options: RunOptions, self: Command) => {
      const config = applyConfigFile(self); // fills `options` from --config FILE, below the flags given
      checkDetachOptions(options);
      if (options.snapshotAfterBoot !== undefined) command = templateCommand(command, options);
      // Through the environment: it reaches the detached VMM and, as an MVM_* variable, the helper VM's run.
      if (options.jail === false) process.env[NO_JAIL_ENV] = '1';
      const plan = options.restore !== undefined ? planRestore(command, options, self) : planRun(command, options);
      if (options.detach) {
        await runDetached(plan, { ...(options.name !== undefined ? { name: options.name } : {}), config }, process.argv.slice(2));
        return;
      }
      // A foreground VM lives as long as whoever started mvm: if that process
      // dies, we get SIGHUP, as from a closed terminal, and end the VM (here,
      // or inside the helper VM through the forwarded signal). Without this a
      // killed parent would leave mvm and its VM running, unseen.
      setParentDeathSignal(osConstants.signals.SIGHUP);
      // --vsock's socket cannot listen on a 9p share: the host relays PATH to one inside the helper.
      const vsockRelay = await relayVsockIfForwarded(process.argv.slice(2), plan.vsock);
      const forwarded = await runViaHelperIfNeeded(vsockRelay?.argv ?? process.argv.slice(2)).finally(() => vsockRelay?.close());
      if (forwarded !== null) {
        process.exitCode = forwarded;
        return;
      }
      await runLocally(plan, command, options);
    });
}
