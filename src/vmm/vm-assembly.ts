// Builds one microVM from a checked plan: opens its disks, tap interfaces and
// vsock socket, creates the Machine with every virtio device in slot order,
// and turns the Machine's raw events into what a VMM acts on (a guest power-off
// with its status, a kernel panic, a crash). Shared by foreground `mvm run`
// (src/cli/commands/run.ts) and the detached VMM process (src/fleet/vmm-process.ts),
// so both boot exactly the same machine.
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { VmDrives } from '../devices/virtio/block/drives.js';
import type { DriveSettings, NetSettings, ShareSettings, VsockSettings } from '../devices/settings.js';
import { openShares, type OpenShares } from '../devices/virtio/fs/shares.js';
import { installNativeFileOps } from '../disk/native-file-ops.js';
import * as ffi from '../sys/libc.js';
import type { VirtioBlock } from '../devices/virtio/block/device.js';
import { VirtioConsole } from '../devices/virtio/console.js';
import { VirtioNet } from '../devices/virtio/net.js';
import { VirtioRng } from '../devices/virtio/rng.js';
import { TapBackend } from '../devices/virtio/tap-backend.js';
import { VirtioVsock } from '../devices/virtio/vsock/device.js';
import { UnixSocketBackend } from '../devices/virtio/vsock/unix-backend.js';
import { relayedBackendOptions } from '../helper/vsock-relayed-from.js';
import type { ConsoleDevice } from './default-cmdline.js';
import { PowerDownWatcher, showsKernelHalt, showsKernelPanic } from './kernel-stop-messages.js';
import { Machine, type MachineEvents } from './machine.js';
import type { OpenDrive } from './freeze-disks.js';
import type { ReadSnapshot } from '../snapshot/snapshot-dir.js';
import type { VirtioDevice } from '../virtio/device.js';

/** Everything a microVM is built from, checked before anything starts (and before forwarding to the helper VM). */
export interface VmPlan {
  readonly console: ConsoleDevice;
  readonly kernelPath: string;
  readonly initrdPath: string | undefined;
  readonly memoryBytes: number;
  readonly cpus: number;
  readonly cmdline: string;
  readonly drives: readonly DriveSettings[];
  readonly nets: readonly NetSettings[];
  readonly vsock: VsockSettings | undefined;
  readonly rng: boolean;
  /** The snapshot directory this VM is restored from, instead of booting its kernel. */
  readonly restoreFrom?: string;
  /** Host directories shared with the guest (virtio-fs, one virtiofsd each). */
  readonly shares: readonly ShareSettings[];
}

export interface AssemblyEvents {
  /** Every byte the guest wrote to a console (the UART and the virtio console). */
  consoleOutput(bytes: Uint8Array): void;
  bootComplete(): void;
  /**
   * The guest ended the VM: through the guest-signal device with its status,
   * a plain reset (status 0), or the kernel's "Power down" (status 0).
   */
  powerOff(status: number, how: GuestPowerOff): void;
  /** The guest kernel panicked; `lines` say so and show its last console lines. */
  panic(lines: string[]): void;
  /** The guest can never run again: every vCPU halted with interrupts disabled; `lines` say how it got there. */
  halted(lines: string[]): void;
  /** A vCPU stopped for a reason the VMM cannot continue from. */
  fatal(lines: string[]): void;
  /** Something worth a line on the VMM's stderr that does not stop the VM (a vsock host-side problem). */
  warn(message: string): void;
}

/** How a guest ended its VM without crashing. */
export type GuestPowerOff = 'guest-signal' | 'reset' | 'power-down';

export interface AssembledVm {
  readonly machine: Machine;
  readonly blocks: readonly VirtioBlock[];
  /** The open drives' top images in slot order (a snapshot freezes them, src/vmm/freeze-disks.ts). */
  readonly drives: readonly OpenDrive[];
  readonly nets: readonly VirtioNet[];
  /** Sends host input to the guest console (the virtio console when there is one, else the UART). */
  consoleInput(bytes: Uint8Array): void;
  /** Closes the disks (consistent on the host, overlays deleted) and the vsock socket. Never throws; returns problems. */
  close(): string[];
}

/** Console lines shown with a panic or a halt. */
const CRASH_TAIL_LINES = 15;

/** `restore`: build the machine a snapshot holds (its plan from planFromLaunch) instead of booting a kernel. */
export function assembleVm(plan: VmPlan, events: AssemblyEvents, restore?: ReadSnapshot): AssembledVm {
  const kernel = restore ? new Uint8Array() : readFileSync(plan.kernelPath);
  const initrd = plan.initrdPath && !restore ? readFileSync(plan.initrdPath) : undefined;
  // The VMM has the FFI loaded anyway: its disks get locked against other users and raw discards punch holes.
  installNativeFileOps(ffi);
  const drives = VmDrives.open(plan.drives);
  let vsock: { device: VirtioVsock; backend: UnixSocketBackend } | undefined;
  let shares: OpenShares | undefined;
  try {
    shares = openShares(plan.shares, events.warn);
    vsock = plan.vsock ? openVsock(plan.vsock, events.warn) : undefined;
    const nets = openNets(plan.nets);
    let machine: Machine;
    // The kernel's "Power down" ends the VM: without a power-off device the
    // guest would otherwise run on (src/vmm/kernel-stop-messages.ts). One
    // watcher per console device, so their lines are never glued together.
    const powerDown = () => events.powerOff(0, 'power-down');
    const uartPowerDown = new PowerDownWatcher(powerDown);
    const virtioPowerDown = new PowerDownWatcher(powerDown);
    // The virtio console carries the session once the guest's driver is up;
    // the UART stays for anything printed to ttyS0 (early boot, --console serial).
    const virtioConsole =
      plan.console === 'virtio'
        ? new VirtioConsole({
            output: (bytes) => {
              machine.consoleTail.push(bytes);
              events.consoleOutput(bytes);
              virtioPowerDown.push(bytes);
            },
          })
        : undefined;
    const virtio = [
      ...drives.devices,
      ...nets,
      ...(plan.rng ? [new VirtioRng()] : []),
      ...(vsock ? [vsock.device] : []),
      ...shares.devices,
      ...(virtioConsole ? [virtioConsole] : []),
    ];
    const machineEvents: MachineEvents = {
      consoleOutput: (bytes) => {
        events.consoleOutput(bytes);
        uartPowerDown.push(bytes);
      },
      bootComplete: () => events.bootComplete(),
      powerOff: (status, how) => {
        const tail = machine.consoleTail.lastLines(CRASH_TAIL_LINES);
        // panic=-1 resets at once; the guest's init never resets on its own
        // (it powers off through the guest-signal device), so this is a crash.
        if (how === 'reset' && showsKernelPanic(tail)) {
          events.panic(['the guest kernel panicked', ...tail.map((l) => `  | ${l}`)]);
        } else {
          events.powerOff(status, how);
        }
      },
      fatal: (lines) => events.fatal(lines),
      halted: (afterShutdown) => {
        const tail = machine.consoleTail.lastLines(CRASH_TAIL_LINES);
        // A halt the kernel announced (its devices shut down first, or its
        // line on a console that survived) was asked for; any other is worth
        // the console lines that led to it.
        events.halted(
          afterShutdown || showsKernelHalt(tail)
            ? ['the guest kernel halted the machine (halt -f, or poweroff -f: without a power-off device Linux halts instead)']
            : [
                'every vCPU of the guest halted with interrupts disabled: it can never run again',
                'last console lines:',
                ...tail.map((l) => `  | ${l}`),
              ],
        );
      },
    };
    machine = restore
      ? restoreMachine(restore, virtio, machineEvents, vsock?.device)
      : Machine.create(
          { kernel, ...(initrd ? { initrd } : {}), cmdline: plan.cmdline, memoryBytes: plan.memoryBytes, cpus: plan.cpus, virtio },
          machineEvents,
        );
    const openVsockBackend = vsock?.backend;
    const openedShares = shares;
    return {
      machine,
      blocks: drives.devices,
      drives: drives.opened,
      nets,
      consoleInput: (bytes) => (virtioConsole ? virtioConsole.receive(bytes) : machine.serial.receive(bytes)),
      close: () => {
        openVsockBackend?.close();
        machine.stopDeviceThreads();
        openedShares.close();
        return drives.closeSync();
      },
    };
  } catch (err) {
    vsock?.backend.close();
    shares?.close();
    drives.closeSync();
    throw err;
  }
}

/**
 * The machine a snapshot holds. Its vsock driver, if any, is told the
 * transport was reset: the host side of its connections did not survive, and
 * this VM may have another CID than the snapshot's (--vsock with --restore).
 */
function restoreMachine(snapshot: ReadSnapshot, virtio: readonly VirtioDevice[], events: MachineEvents, vsock: VirtioVsock | undefined): Machine {
  const machine = Machine.restore(snapshot, virtio, events);
  vsock?.transportReset();
  return machine;
}

/** One virtio-net device per NIC, on its tap interface. */
function openNets(nets: readonly NetSettings[]): VirtioNet[] {
  return nets.map((net, i) => {
    let backend: TapBackend;
    try {
      backend = new TapBackend(net.tap);
    } catch (err) {
      throw new UserError(
        `cannot open the tap interface ${net.tap} (${err instanceof Error ? err.message : String(err)}); create it first (ip tuntap add dev ${net.tap} mode tap) or run with CAP_NET_ADMIN`,
      );
    }
    return new VirtioNet(backend, net.mac, `eth${i}`);
  });
}

/** The vsock device and its unix-socket host side (removed again when the VM stops). */
function openVsock(option: VsockSettings, warn: (message: string) => void): { device: VirtioVsock; backend: UnixSocketBackend } {
  let backend: UnixSocketBackend;
  try {
    backend = new UnixSocketBackend(option.uds, warn, relayedBackendOptions(option.uds));
  } catch (err) {
    throw new UserError(`vsock: cannot listen on ${option.uds} (${err instanceof Error ? err.message : String(err)})`);
  }
  return { device: new VirtioVsock(option.cid, backend), backend };
}
