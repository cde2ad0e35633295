// The composition root of one microVM: opens KVM, creates the VM with its
// in-kernel interrupt controllers and PIT, maps guest RAM, lays out the boot
// data, wires the legacy devices to the buses and starts one thread per vCPU.
// What happens next is reported through MachineEvents; the caller decides
// what a power-off or a crash means for the process.
import { applyVmmV8Flags } from './vmm-heap-flags.js';
import { filterCpuid } from '../arch/x86_64/cpuid.js';
import { guestRamRegions } from '../arch/x86_64/e820.js';
import { configureLapicLints } from '../arch/x86_64/lapic.js';
import {
  GUEST_SIGNAL_BASE,
  GUEST_SIGNAL_SIZE,
  I8042_COMMAND_PORT,
  I8042_DATA_PORT,
  KVM_IDENTITY_MAP_ADDRESS,
  KVM_TSS_ADDRESS,
  SERIAL_COM1_GSI,
  SERIAL_COM1_PORT,
  SERIAL_PORT_COUNT,
} from '../arch/x86_64/layout.js';
import { KernelCmdline } from '../loader/cmdline.js';
import { servesQueuesElsewhere, type VirtioDevice } from '../virtio/device.js';
import { MmioTransport } from '../virtio/mmio-transport.js';
import { wireSlot } from '../virtio/kvm-slot.js';
import type { SharedInterruptSlot } from '../virtio/interrupt-fast-path.js';
import { GuestSignal } from '../devices/legacy/guest-signal.js';
import { I8042 } from '../devices/legacy/i8042.js';
import { Serial16550 } from '../devices/legacy/serial.js';
import { MAX_MAPPING_BYTES, memfd } from '../sys/libc.js';
import { SyscallError, errnoName } from '../sys/syscall-error.js';
import { Capability } from '../kvm/ioctls.js';
import { Kvm } from '../kvm/system.js';
import type { VmFd } from '../kvm/vm.js';
import { setupBoot, type BootSetup } from '../loader/boot-setup.js';
import { GuestMemory, type MemoryRegion } from '../memory/guest-memory.js';
import { UserError } from '../errors.js';
import { Bus } from '../bus/bus.js';
import { ConsoleTail } from './console-tail.js';
import { describeFatalExit, describeLocation } from './exit-report.js';
import { DeviceShutdownWatch } from './device-shutdown-watch.js';
import { HaltWatchdog } from './halt-watchdog.js';
import { kickThread } from './vcpu-kick.js';
import { PauseControl } from './pause-control.js';
import { saveVcpuState, vcpuStateSupport, type VcpuState, type VcpuStateSupport } from '../kvm/vcpu-state.js';
import { restoreVmState, saveVmState, type VmState } from '../kvm/vm-state.js';
import { restoreVcpuState } from '../kvm/vcpu-state.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import type { ReadSnapshot } from '../snapshot/snapshot-dir.js';
import type { SnapshotState } from '../snapshot/snapshot-state.js';
import { mapSnapshotMemory } from './snapshot-memory.js';
import { requireSameCpuid } from '../snapshot/cpuid-match.js';
import type { CpuidEntry } from '../kvm/structs.js';
import { VcpuRunner, type VcpuExitCounts } from './vcpu-runner.js';
import { BlockThread } from './block-thread-host.js';
import { allocateVirtioSlots, type VirtioSlot } from './virtio-slots.js';
import type { VcpuStopMessage } from './vcpu-protocol.js';

export interface MachineConfig {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  memoryBytes: number;
  cpus: number;
  /** virtio devices, one virtio-mmio slot each, in slot order (the guest names disks vda, vdb… in this order). */
  virtio?: readonly VirtioDevice[];
}

export interface MachineEvents {
  /** Bytes the guest wrote to its console. */
  consoleOutput(bytes: Uint8Array): void;
  /** The guest's init reported that userspace is up. */
  bootComplete(): void;
  /**
   * The guest asked to power off (status from the guest-signal device), reset
   * the machine (i8042), or its kernel powered down with nothing to power off
   * (it shut its devices down and ran on: src/vmm/halt-watchdog.ts), status 0.
   */
  powerOff(status: number, how: 'guest-signal' | 'reset' | 'power-down'): void;
  /** A vCPU stopped for a reason the VMM cannot continue from; `lines` explain it. */
  fatal(lines: string[]): void;
  /**
   * Every vCPU is halted with interrupts disabled (or was never started), so
   * the guest can never run again (src/vmm/halt-watchdog.ts). `afterShutdown`:
   * the kernel had shut its devices down first, as halt -f and poweroff -f do.
   */
  halted(afterShutdown: boolean): void;
}

/** Console lines included in a crash report. */
const CRASH_REPORT_LINES = 15;

/** Where one piece of guest RAM lives in this process's address space (for /proc/self/smaps). */
export interface HostRange {
  readonly hostAddress: bigint;
  readonly size: number;
}

/** A HostRange and the guest-physical address it backs (what a device thread needs to see guest RAM). */
export interface GuestRamMapping extends HostRange {
  readonly guestAddress: number;
}

export class Machine {
  readonly serial: Serial16550;
  private readonly guestSignal: GuestSignal;
  readonly consoleTail = new ConsoleTail();
  private readonly runners: VcpuRunner[] = [];
  private readonly pio = new Bus('pio');
  private readonly mmio = new Bus('mmio');
  /** One transport per virtio device, in slot order. */
  readonly virtio: MmioTransport[] = [];
  /** performance.now() when the vCPU threads were started. */
  startedAt = 0;
  private readonly haltWatchdog: HaltWatchdog;
  /** Serves the raw drives' queues off the main loop (src/vmm/block-thread.ts); undefined when no drive qualifies. */
  readonly blockThread: BlockThread | undefined;
  private readonly pauseControl: PauseControl;
  /** The MSRs KVM saves for a vCPU, and which optional parts of a vCPU's state it has (snapshots). */
  private readonly msrIndices: readonly number[];
  private readonly stateSupport: VcpuStateSupport;
  private readonly i8042: I8042;
  /** The boot vCPU's CPUID, which a snapshot records. */
  private bootCpuid: CpuidEntry[] = [];
  /** What a snapshot records to build this machine again. */
  private readonly description: { memoryBytes: number; cpus: number; cmdline: string };

  private constructor(
    private readonly vm: VmFd,
    readonly memory: GuestMemory,
    /** The guest RAM mappings, so the VMM can tell guest pages from its own in its memory map. */
    readonly guestRamHostRanges: readonly GuestRamMapping[],
    /** How the boot vCPU starts; undefined for a machine restored from a snapshot. */
    readonly boot: BootSetup | undefined,
    private readonly events: MachineEvents,
    kvm: Kvm,
    config: MachineConfig,
    slots: readonly VirtioSlot[],
  ) {
    this.serial = new Serial16550({
      output: (bytes) => {
        this.consoleTail.push(bytes);
        events.consoleOutput(bytes);
      },
      interrupt: (level) => vm.setIrqLine(SERIAL_COM1_GSI, level),
    });
    this.pio.register('serial (COM1)', SERIAL_COM1_PORT, SERIAL_PORT_COUNT, this.serial);
    this.i8042 = new I8042(() => events.powerOff(0, 'reset'));
    this.pio.register('i8042', I8042_DATA_PORT, I8042_COMMAND_PORT - I8042_DATA_PORT + 1, this.i8042);
    this.guestSignal = new GuestSignal({
      bootComplete: () => events.bootComplete(),
      powerOff: (status) => events.powerOff(status, 'guest-signal'),
    });
    this.mmio.register('guest-signal', GUEST_SIGNAL_BASE, GUEST_SIGNAL_SIZE, this.guestSignal);
    const offThread = BlockThread.collector();
    (config.virtio ?? []).forEach((device, i) => {
      const slot = slots[i]!;
      // Edge-triggered (the MP table announces ISA polarity and trigger): irqfd or a KVM_IRQ_LINE pulse.
      const wiring = wireSlot(kvm, vm, slot.gsi);
      const transport = new MmioTransport(device, memory, { interrupt: wiring.interrupt });
      this.mmio.register(device.name, slot.base, slot.size, transport);
      if (servesQueuesElsewhere(device)) device.bindEventFds(wiring.attachExternalNotifiers(transport, slot.base));
      else if (!offThread.claim(transport, wiring, slot.base)) wiring.attachNotifiers(transport, slot.base);
      this.virtio.push(transport);
    });
    this.blockThread = offThread.start(guestRamHostRanges);
    this.createVcpus(
      kvm,
      config.cpus,
      this.virtio.map((t, i) => ({ base: slots[i]!.base, interruptStatus: t.interruptStatusWord.buffer as SharedArrayBuffer, ackKeeps: t.ackKeeps })),
    );
    const deviceShutdown = new DeviceShutdownWatch(this.virtio);
    this.haltWatchdog = new HaltWatchdog(
      this.runners,
      (how) => (how.kind === 'powered-down' ? events.powerOff(0, 'power-down') : events.halted(how.afterShutdown)),
      () => deviceShutdown.check(),
    );
    this.pauseControl = new PauseControl(this.runners, this.haltWatchdog, () => this.virtio.map((t) => t.device));
    this.msrIndices = kvm.msrIndexList();
    this.stateSupport = vcpuStateSupport(vm);
    this.description = { memoryBytes: config.memoryBytes, cpus: config.cpus, cmdline: withVirtioDevices(config.cmdline, slots) };
  }

  static create(config: MachineConfig, events: MachineEvents): Machine {
    applyVmmV8Flags();
    const kvm = Kvm.open();
    kvm.requireCapabilities();
    const maxVcpus = kvm.maxVcpus();
    if (config.cpus > maxVcpus) throw new UserError(`${config.cpus} vCPUs requested but this host's KVM allows at most ${maxVcpus}`);
    const slots = allocateVirtioSlots(config.virtio?.length ?? 0);
    const vm = kvm.createVm();
    vm.setTssAddress(KVM_TSS_ADDRESS);
    vm.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
    vm.createIrqchip();
    vm.createPit();
    const shared = (config.virtio ?? []).some(servesQueuesElsewhere);
    const { memory, hostRanges } = mapGuestMemory(vm, config.memoryBytes, shared);
    const boot = setupBoot(memory, {
      kernel: config.kernel,
      ...(config.initrd ? { initrd: config.initrd } : {}),
      cmdline: withVirtioDevices(config.cmdline, slots),
      cpus: config.cpus,
    });
    return new Machine(vm, memory, hostRanges, boot, events, kvm, config, slots);
  }

  /**
   * Builds the machine a snapshot was taken of, its RAM the snapshot's memory
   * file mapped copy-on-write, every vCPU, the interrupt controllers and the
   * devices in the state they were saved in; start() resumes it. `virtio`
   * must be the same kinds of device in the same slots as when it was saved.
   */
  static restore(snapshot: ReadSnapshot, virtio: readonly VirtioDevice[], events: MachineEvents): Machine {
    applyVmmV8Flags();
    const { state, memoryPath } = snapshot;
    const saved = state.machine.virtio;
    if (virtio.length !== saved.length || virtio.some((d, i) => d.deviceType !== saved[i]!.deviceType)) {
      throw new SnapshotError(
        `the snapshot has virtio devices [${saved.map((d) => d.name).join(', ')}], this VM [${virtio.map((d) => d.name).join(', ')}]: restore with the same devices`,
      );
    }
    const kvm = Kvm.open();
    kvm.requireCapabilities();
    if (state.machine.cpus > kvm.maxVcpus())
      throw new SnapshotError(`the snapshot has ${state.machine.cpus} vCPUs, this host's KVM allows at most ${kvm.maxVcpus()}`);
    const tscDeadlineTimer = kvm.checkExtension(Capability.TSC_DEADLINE_TIMER) > 0;
    requireSameCpuid(state.cpuid, filterCpuid(kvm.supportedCpuid(), 0, state.machine.cpus, { tscDeadlineTimer }));
    const slots = allocateVirtioSlots(virtio.length);
    const vm = kvm.createVm();
    vm.setTssAddress(KVM_TSS_ADDRESS);
    vm.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
    vm.createIrqchip();
    vm.createPit();
    const { memory, hostRanges } = mapSnapshotMemory(vm, memoryPath, state.memory, state.machine.memoryBytes);
    // The cmdline already carries the virtio-mmio entries; nothing is added to it again.
    const config: MachineConfig = { kernel: new Uint8Array(), cmdline: '', memoryBytes: state.machine.memoryBytes, cpus: state.machine.cpus, virtio };
    const machine = new Machine(vm, memory, hostRanges, undefined, events, kvm, config, slots);
    machine.description.cmdline = state.machine.cmdline;
    machine.restoreState(state);
    return machine;
  }

  /** Starts every vCPU thread; the boot vCPU runs, the others wait for the kernel's SIPI. */
  start(): void {
    this.startedAt = performance.now();
    for (const runner of this.runners) runner.start();
    this.haltWatchdog.start();
  }

  /** Stops the device threads: afterwards nothing touches the disks, which can then be closed. */
  stopDeviceThreads(): void {
    this.blockThread?.stop();
  }

  /** Asks the guest to shut down: its init polls the guest-signal stop register and powers off. */
  requestGuestStop(): void {
    this.guestSignal.requestStop();
  }

  /** Parks every vCPU out of KVM_RUN and waits for the devices' in-flight I/O (src/vmm/pause-control.ts). */
  pause(): Promise<void> {
    return this.pauseControl.pause();
  }

  resume(): void {
    this.pauseControl.resume();
  }

  /** What KVM holds for this VM and each vCPU; only while paused. */
  saveKvmState(): { vm: VmState; vcpus: VcpuState[] } {
    if (this.pauseControl.state !== 'paused') throw new Error('the VM must be paused to read its KVM state');
    return {
      vm: saveVmState(this.vm),
      vcpus: this.runners.map((r) => saveVcpuState(r.vcpuFd, this.msrIndices, this.stateSupport)),
    };
  }

  /** Everything but guest RAM that a snapshot holds; only while paused. */
  captureState(): Omit<SnapshotState, 'memory' | 'launch'> {
    const cpuid = this.bootCpuid;
    const kvmState = this.saveKvmState();
    return {
      createdAt: new Date().toISOString(),
      machine: { ...this.description, virtio: this.virtio.map((t) => ({ name: t.device.name, deviceType: t.device.deviceType })) },
      vm: kvmState.vm,
      vcpus: kvmState.vcpus,
      virtio: this.virtio.map((t) => t.saveState()),
      legacy: { serial: this.serial.saveState(), i8042: this.i8042.saveState() },
      cpuid,
    };
  }

  /** Puts a snapshot's state (already checked by the snapshot reader) into this freshly built machine, before start(). */
  private restoreState(state: SnapshotState): void {
    restoreVmState(this.vm, state.vm);
    this.runners.forEach((runner, i) => {
      restoreVcpuState(runner.vcpuFd, state.vcpus[i]!, this.stateSupport);
    });
    this.virtio.forEach((transport, i) => {
      transport.restoreState(state.virtio[i]!);
    });
    this.serial.restoreState(state.legacy.serial);
    this.i8042.restoreState(state.legacy.i8042);
  }

  exitCounts(): VcpuExitCounts[] {
    return this.runners.map((r) => r.exitCounts());
  }

  /** Accesses to addresses no device claimed (guests probing for hardware). */
  unclaimedAccesses(): { pio: number; mmio: number } {
    return {
      pio: this.pio.unclaimed.reads + this.pio.unclaimed.writes,
      mmio: this.mmio.unclaimed.reads + this.mmio.unclaimed.writes,
    };
  }

  private createVcpus(kvm: Kvm, count: number, interruptSlots: readonly SharedInterruptSlot[]): void {
    const supported = kvm.supportedCpuid();
    const tscDeadlineTimer = kvm.checkExtension(Capability.TSC_DEADLINE_TIMER) > 0;
    const runMmapSize = kvm.vcpuMmapSize();
    for (let id = 0; id < count; id++) {
      const vcpu = this.vm.createVcpu(id);
      const cpuid = filterCpuid(supported, id, count, { tscDeadlineTimer });
      if (id === 0) this.bootCpuid = cpuid;
      vcpu.setCpuid(cpuid);
      if (this.boot) vcpu.setMsrs(this.boot.msrs);
      vcpu.setLapic(configureLapicLints(vcpu.getLapic()));
      if (id === 0 && this.boot) {
        vcpu.setRegs(this.boot.registers);
        const start = this.boot.specialRegisters;
        vcpu.updateSregs((current) => ({ ...current, ...start }));
      }
      this.runners.push(
        new VcpuRunner(vcpu, runMmapSize, { pio: this.pio, mmio: this.mmio }, (i, m) => this.vcpuStopped(i, m), kickThread, interruptSlots),
      );
    }
  }

  private vcpuStopped(id: number, message: VcpuStopMessage): void {
    // A stopped vCPU thread answers no probe; the VM is over anyway.
    this.haltWatchdog.stop();
    const lines: string[] = [];
    if (message.type === 'failed') {
      lines.push(`vCPU ${id} failed: ${message.message}`);
    } else {
      lines.push(`vCPU ${id} stopped: ${describeFatalExit(message.exit)}`);
      lines.push(`  at ${describeLocation(this.memory, message.regs, message.sregs)}`);
      if (message.exit.kind === 'internal-error' && message.exit.data.length > 0) {
        lines.push(`  KVM data: ${message.exit.data.map((d) => `0x${d.toString(16)}`).join(' ')}`);
      }
    }
    const tail = this.consoleTail.lastLines(CRASH_REPORT_LINES);
    if (tail.length > 0) {
      lines.push('last console lines:');
      for (const line of tail) lines.push(`  | ${line}`);
    } else {
      lines.push('the guest printed nothing on its console');
    }
    this.events.fatal(lines);
  }
}

/**
 * Announces each virtio-mmio slot on the command line. The entries go first:
 * the kernel hands everything after a `--` to init, so appended ones could be lost.
 */
function withVirtioDevices(cmdline: string, slots: readonly VirtioSlot[]): string {
  if (slots.length === 0) return cmdline;
  const line = new KernelCmdline();
  for (const slot of slots) line.addVirtioMmioDevice(slot.base, slot.size, slot.gsi);
  return `${line.toString()} ${cmdline}`;
}

/**
 * Maps the RAM regions the e820 map announces. Each KVM slot is at most
 * MAX_MAPPING_BYTES so every slot is addressable from JavaScript.
 *
 * `shared` (a vhost-user device is attached): the RAM is one memfd mapped
 * MAP_SHARED, so the back-end process can map the same pages. Otherwise it
 * stays anonymous MAP_PRIVATE memory, as before: a VM without such a device
 * costs exactly what it did (the memory and density benchmarks measure that).
 */
function mapGuestMemory(vm: VmFd, memoryBytes: number, shared: boolean): { memory: GuestMemory; hostRanges: GuestRamMapping[] } {
  const regions: MemoryRegion[] = [];
  const hostRanges: GuestRamMapping[] = [];
  try {
    const layout = guestRamRegions(memoryBytes);
    const file = shared
      ? memfd(
          'mvm-guest-ram',
          layout.reduce((sum, r) => sum + r.size, 0),
        )
      : undefined;
    let fileOffset = 0;
    for (const ram of layout) {
      for (let offset = 0; offset < ram.size; offset += MAX_MAPPING_BYTES) {
        const size = Math.min(MAX_MAPPING_BYTES, ram.size - offset);
        const guestAddress = ram.guestAddress + offset;
        if (file === undefined) {
          const mapping = vm.addAnonymousMemory(guestAddress, size);
          regions.push({ guestAddress, bytes: new Uint8Array(mapping.buffer) });
          hostRanges.push({ guestAddress, hostAddress: mapping.address, size });
        } else {
          const mapping = vm.addSharedFileMemory(guestAddress, size, file, fileOffset);
          regions.push({ guestAddress, bytes: new Uint8Array(mapping.buffer), file: { fd: file, offset: fileOffset, hostAddress: mapping.address } });
          hostRanges.push({ guestAddress, hostAddress: mapping.address, size });
          fileOffset += size;
        }
      }
    }
  } catch (err) {
    if (err instanceof SyscallError) {
      throw new UserError(`cannot map ${memoryBytes} bytes of guest memory: ${errnoName(err.errno)} from ${err.call}`);
    }
    throw err;
  }
  return { memory: new GuestMemory(regions), hostRanges };
}
