// `mvm run`: boots a microVM in the foreground with its console on this
// terminal, like `docker run -it` (or `docker run IMAGE CMD` with a command).
// On hosts whose KVM cannot run Linux guests the same command runs inside the
// helper VM (src/helper), transparently apart from a one-line notice.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { runViaHelperIfNeeded } from '../../helper/client.js';
import { exitImmediately } from '../../kvm/ffi.js';
import { projectRoot } from '../../runtime/paths.js';
import { parseSize } from '../../disk/size.js';
import { CONSOLE_ESCAPE_NAME, ConsoleIo, writeAll } from '../../vmm/console-io.js';
import { CONSOLE_DEVICES, DEFAULT_BOOT_ARGS, commandParameter, defaultBootArgs, type ConsoleDevice } from '../../vmm/default-cmdline.js';
import { VirtioConsole } from '../../devices/virtio/console.js';
import { Machine } from '../../vmm/machine.js';
import { VmDrives, parseDriveOption, type DriveSpec } from '../../devices/virtio/block/drives.js';
import { VirtioRng } from '../../devices/virtio/rng.js';
import { VirtioNet } from '../../devices/virtio/net.js';
import { parseNetOption, type NetOption } from '../../devices/virtio/net-option.js';
import { VirtioVsock } from '../../devices/virtio/vsock/device.js';
import { UnixSocketBackend } from '../../devices/virtio/vsock/unix-backend.js';
import { parseVsockOption, type VsockOption } from '../../devices/virtio/vsock/option.js';
import { TapBackend } from '../../devices/virtio/tap-backend.js';
import { UserError } from '../errors.js';

interface RunOptions {
  kernel?: string;
  initrd?: string;
  cpus: string;
  memory: string;
  bootArgs?: string;
  append?: string[];
  interactive?: boolean;
  timing?: boolean;
  disk?: string[];
  rng: boolean;
  net?: string[];
  vsock?: string;
  console: string;
}

/** Exit statuses of the VMM itself (the guest's own status passes through otherwise). */
const EXIT_GUEST_CRASHED = 125;
const EXIT_STOPPED_BY_ESCAPE = 130;
const EXIT_SIGNALLED_BASE = 128;
/** What Linux prints when it panics; with panic=-1 the reset follows at once. */
const KERNEL_PANIC_MARK = 'Kernel panic - not syncing';
const CRASH_TAIL_LINES = 15;

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
  if (command.length > 0) words.push(commandParameter(command));
  return words.filter((w) => w.length > 0).join(' ');
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Everything `mvm run` needs, checked before anything starts (and before forwarding to the helper VM). */
interface RunPlan {
  console: ConsoleDevice;
  kernelPath: string;
  initrdPath: string | undefined;
  memoryBytes: number;
  cpus: number;
  cmdline: string;
  drives: DriveSpec[];
  nets: NetOption[];
  vsock: VsockOption | undefined;
}

function planRun(command: readonly string[], options: RunOptions): RunPlan {
  const root = projectRoot();
  const kernelPath = resolve(options.kernel ?? resolve(root, DEFAULT_KERNEL));
  const initrdPath = options.initrd === '' ? undefined : resolve(options.initrd ?? resolve(root, DEFAULT_INITRD));
  checkGuestFile(kernelPath, 'kernel', options.kernel ? '' : ' (build it with `make images`, or pass --kernel)');
  if (initrdPath) checkGuestFile(initrdPath, 'initrd', options.initrd ? '' : ' (build it with `make images`, or pass --initrd)');
  return {
    kernelPath,
    initrdPath,
    memoryBytes: parseSize(options.memory, 'memory size'),
    cpus: parseCpus(options.cpus),
    cmdline: buildCmdline(options, command),
    console: parseConsole(options.console),
    drives: (options.disk ?? []).map(parseDriveOption),
    nets: (options.net ?? []).map(parseNetOption),
    vsock: options.vsock === undefined ? undefined : parseVsockOption(options.vsock),
  };
}

async function runLocally(plan: RunPlan, command: readonly string[], options: RunOptions): Promise<void> {
  const actionStart = performance.now();
  const kernel = readFileSync(plan.kernelPath);
  const initrd = plan.initrdPath ? readFileSync(plan.initrdPath) : undefined;
  const interactive = process.env['MVM_INTERACTIVE'] === '1' || (process.stdin.isTTY === true && command.length === 0);
  const forwardInput = interactive || options.interactive === true;
  let bootMs: number | undefined;
  let firstRunMs = 0;

  // eslint-disable-next-line prefer-const
  let machine: Machine;
  const drives = VmDrives.open(plan.drives);
  const vsock = plan.vsock ? openVsock(plan.vsock) : undefined;
  const finish = (status: number, message?: string[]) => {
    console_.release();
    vsock?.backend.close();
    for (const problem of drives.closeSync()) writeAll(2, Buffer.from(`mvm: ${problem}\n`));
    if (message) writeAll(2, Buffer.from(message.map((l) => `mvm: ${l}`).join('\n') + '\n'));
    if (options.timing) {
      const now = performance.now();
      const exits = machine.exitCounts().reduce((sum, c) => sum + c.io + c.mmio, 0);
      const boot = bootMs === undefined ? 'never signalled boot-complete' : `boot to userspace ${Math.round(bootMs - actionStart)} ms (VMM setup ${Math.round(firstRunMs - actionStart)} ms, kernel + init ${Math.round(bootMs - firstRunMs)} ms)`;
      writeAll(2, Buffer.from(`mvm: ${boot}; ran ${Math.round(now - actionStart)} ms; ${exits} I/O exits\n`));
    }
    exitImmediately(status);
  };

  // The virtio console carries the session once the guest's driver is up;
  // the UART stays for anything printed to ttyS0 (early boot, --console serial).
  const virtioConsole = plan.console === 'virtio'
    ? new VirtioConsole({ output: (bytes) => { machine.consoleTail.push(bytes); console_.write(bytes); } })
    : undefined;
  const console_ = new ConsoleIo({
    forwardInput,
    interactive,
    onInput: (bytes) => (virtioConsole ? virtioConsole.receive(bytes) : machine.serial.receive(bytes)),
    onEscape: () => finish(EXIT_STOPPED_BY_ESCAPE, [`stopped the VM (${CONSOLE_ESCAPE_NAME} pressed)`]),
  });

  machine = Machine.create(
    { kernel, ...(initrd ? { initrd } : {}), cmdline: plan.cmdline, memoryBytes: plan.memoryBytes, cpus: plan.cpus,
      virtio: [...drives.devices, ...openNets(plan.nets), ...(options.rng ? [new VirtioRng()] : []), ...(vsock ? [vsock.device] : []), ...(virtioConsole ? [virtioConsole] : [])] },
    {
      consoleOutput: (bytes) => console_.write(bytes),
      bootComplete: () => {
        bootMs ??= performance.now();
      },
      powerOff: (status, how) => {
        if (how === 'reset' && machine.consoleTail.lastLines(CRASH_TAIL_LINES).some((l) => l.includes(KERNEL_PANIC_MARK))) {
          // panic=-1 resets at once; the guest's init never resets on its own
          // (it powers off through the guest-signal device), so this is a crash.
          finish(EXIT_GUEST_CRASHED, ['the guest kernel panicked', ...machine.consoleTail.lastLines(CRASH_TAIL_LINES).map((l) => `  | ${l}`)]);
        } else {
          finish(status);
        }
      },
      fatal: (lines) => finish(EXIT_GUEST_CRASHED, lines),
    },
  );

  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(signal, () => finish(EXIT_SIGNALLED_BASE + number, [`stopped the VM (${signal})`]));
  }
  if (interactive) writeAll(2, Buffer.from(`mvm: console attached; ${CONSOLE_ESCAPE_NAME} stops the VM\n`));
  console_.attach();
  firstRunMs = performance.now();
  machine.start();
}

/** One virtio-net device per --net, on its tap interface. */
function openNets(nets: readonly NetOption[]): VirtioNet[] {
  return nets.map((net, i) => {
    let backend: TapBackend;
    try {
      backend = new TapBackend(net.tap);
    } catch (err) {
      throw new UserError(`--net tap=${net.tap}: cannot open the tap interface (${err instanceof Error ? err.message : String(err)}); create it first (ip tuntap add dev ${net.tap} mode tap) or run with CAP_NET_ADMIN`);
    }
    return new VirtioNet(backend, net.mac, `eth${i}`);
  });
}

/** The --vsock device and its unix-socket host side (removed again when the VM stops). */
function openVsock(option: VsockOption): { device: VirtioVsock; backend: UnixSocketBackend } {
  let backend: UnixSocketBackend;
  try {
    backend = new UnixSocketBackend(option.uds, (message) => writeAll(2, Buffer.from(`mvm: ${message}\n`)));
  } catch (err) {
    throw new UserError(`--vsock: cannot listen on ${option.uds} (${err instanceof Error ? err.message : String(err)})`);
  }
  return { device: new VirtioVsock(option.cid, backend), backend };
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
    .option('--console <device>', 'the guest console: virtio (hvc0: a whole write per queue notification) or serial (ttyS0: a VM exit per byte)', 'virtio')
    .addOption(new Option('--boot-args <line>', 'replace the default kernel command line').default(undefined, DEFAULT_BOOT_ARGS.replace('console=ttyS0', 'console=hvc0|ttyS0')))
    .option('--append <param>', 'add a kernel command-line parameter (repeatable)', collect)
    .option('-i, --interactive', 'forward stdin to the guest console even when it is not a terminal')
    .option('--disk <path[,persistent|,ro]>', 'attach a disk image (raw or qcow2) as /dev/vda, vdb…: by default through a throw-away copy-on-write overlay; ",persistent" writes to the image, ",ro" is read-only (repeatable)', collect)
    // On by default: a guest without an entropy source can stall early in boot waiting for the CRNG, and the device costs nothing until read.
    .option('--net <tap=NAME[,mac=MAC]>', 'attach a virtio-net NIC on a tap interface (repeatable); give the guest its address with --append ip=…', collect)
    .option('--vsock <cid=N[,uds=PATH]>', 'attach a virtio-vsock device with guest CID N (3 or more); host programs connect to the unix socket PATH and write "CONNECT <port>\\n", guest connections to host port P reach PATH_P (default PATH: ./mvm-<pid>.vsock)')
    .option('--no-rng', 'do not give the guest a virtio-rng entropy device')
    .option('--timing', 'print boot time and exit counts on stderr when the VM stops')
    .action(async (command: string[], options: RunOptions) => {
      const plan = planRun(command, options);
      const forwarded = await runViaHelperIfNeeded(process.argv.slice(2));
      if (forwarded !== null) {
        process.exitCode = forwarded;
        return;
      }
      await runLocally(plan, command, options);
    });
}
