// What a snapshot's state file holds, and the one parser that turns the JSON
// read back from disk into it. The file was written by mvm, but it may have
// been truncated, edited or swapped since: every field is checked like guest
// input (types, ranges, struct sizes, the memory layout against the machine,
// the devices against their slots) before anything is restored from it.
import { parseI8042State, type I8042State } from '../devices/legacy/i8042.js';
import { parseSerialState, type SerialState } from '../devices/legacy/serial.js';
import type { MsrValue } from '../kvm/state-layouts.js';
import {
  DEBUGREGS_BYTES,
  FPU_BYTES,
  IRQCHIP_STATE_BYTES,
  LAPIC_BYTES,
  PIT_STATE_BYTES,
  VCPU_EVENTS_BYTES,
  XCRS_BYTES,
  XSAVE_BYTES,
} from '../kvm/state-layouts.js';
import { REGS_SIZE, SREGS_SIZE, type CpuidEntry } from '../kvm/structs.js';
import type { VcpuState } from '../kvm/vcpu-state.js';
import type { VmState } from '../kvm/vm-state.js';
import { SavedStateError, parseTransportState, type TransportState } from '../virtio/saved-state.js';
import { SnapshotError } from './snapshot-error.js';

/** The machine a snapshot was taken of: a restore builds the same one. */
export interface MachineDescription {
  readonly memoryBytes: number;
  readonly cpus: number;
  /** The kernel command line the guest booted with (virtio-mmio entries included). */
  readonly cmdline: string;
  /** The virtio devices in slot order. */
  readonly virtio: readonly { readonly name: string; readonly deviceType: number }[];
}

/** One piece of guest RAM and where its bytes are in the memory file. */
export interface MemoryRegionRecord {
  readonly guestAddress: number;
  readonly size: number;
  readonly fileOffset: number;
}

export interface MemoryLayout {
  /** The memory file's name inside the snapshot directory. */
  readonly file: string;
  readonly bytes: number;
  readonly regions: readonly MemoryRegionRecord[];
}

export interface SnapshotState {
  readonly createdAt: string;
  readonly machine: MachineDescription;
  readonly memory: MemoryLayout;
  readonly vm: VmState;
  readonly vcpus: readonly VcpuState[];
  readonly virtio: readonly TransportState[];
  /** The legacy devices with state worth keeping (the guest-signal device has none: a stop request is not carried over). */
  readonly legacy: { readonly serial: SerialState; readonly i8042: I8042State };
  /** The boot vCPU's CPUID: a restore refuses a host that would give another (src/snapshot/cpuid-match.ts). */
  readonly cpuid: readonly CpuidEntry[];
  /** How the VM's devices were set up on the host (src/vmm/snapshot-launch.ts checks it). */
  readonly launch: Readonly<Record<string, unknown>>;
}

export const MEMORY_FILE = 'memory.bin';
const PAGE = 4096;
/** Far beyond any guest mvm runs, and well inside exact JavaScript integers. */
const MAX_MEMORY_BYTES = 2 ** 46;
const MAX_CPUS = 1024;
const MAX_CMDLINE = 65536;
/** KVM lists a few hundred MSRs at most. */
const MAX_MSRS = 4096;
/** kvm_mp_state values go up to KVM_MP_STATE_SUSPENDED (9). */
const MAX_MP_STATE = 9;
/** KVM_GET_SUPPORTED_CPUID answers a few dozen leaves; mvm accepts up to 4096 from KVM. */
const MAX_CPUID_ENTRIES = 4096;
/** An AMX XSAVE area is about 11 KiB; KVM_CAP_XSAVE2 would never ask for this much. */
const MAX_XSAVE_BYTES = 1 << 20;

// ---- to JSON ---------------------------------------------------------------------

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** The state as JSON-safe values: byte blobs in base64, 64-bit numbers as decimal strings. */
export function serializeSnapshotState(state: SnapshotState): unknown {
  return {
    createdAt: state.createdAt,
    machine: state.machine,
    memory: state.memory,
    vm: {
      picMaster: b64(state.vm.picMaster),
      picSlave: b64(state.vm.picSlave),
      ioapic: b64(state.vm.ioapic),
      pit: b64(state.vm.pit),
      clockNs: state.vm.clockNs.toString(),
    },
    vcpus: state.vcpus.map((v) => ({
      id: v.id,
      mpState: v.mpState,
      regs: b64(v.regs),
      sregs: b64(v.sregs),
      ...(v.xsave ? { xsave: b64(v.xsave) } : {}),
      ...(v.fpu ? { fpu: b64(v.fpu) } : {}),
      ...(v.xcrs ? { xcrs: b64(v.xcrs) } : {}),
      debugRegs: b64(v.debugRegs),
      lapic: b64(v.lapic),
      msrs: v.msrs.map((m) => [m.index, m.data.toString()]),
      events: b64(v.events),
      tscKhz: v.tscKhz,
    })),
    virtio: state.virtio,
    legacy: state.legacy,
    launch: state.launch,
    cpuid: state.cpuid.map((e) => [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx]),
  };
}

// ---- from JSON, checked --------------------------------------------------------------

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SnapshotError(`${what} is not an object`);
  return value as Json;
}

function list(value: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new SnapshotError(`${what} is not a list`);
  if (value.length > max) throw new SnapshotError(`${what} has ${value.length} entries, more than ${max}`);
  return value;
}

function integer(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new SnapshotError(`${what} is ${JSON.stringify(value)}, not an integer from ${min} to ${max}`);
  }
  return value;
}

function text(value: unknown, max: number, what: string): string {
  if (typeof value !== 'string' || value.length > max) throw new SnapshotError(`${what} is not a string of at most ${max} characters`);
  return value;
}

function unsigned64(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(value) || BigInt(value) >= 2n ** 64n) {
    throw new SnapshotError(`${what} is ${JSON.stringify(value)}, not an unsigned 64-bit number`);
  }
  return BigInt(value);
}

/** A base64 blob of exactly `size` bytes (or, with `max`, a multiple of 4 bytes from `size` to `max`). */
function blob(value: unknown, size: number, what: string, max?: number): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new SnapshotError(`${what} is not base64`);
  }
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  const fits = max === undefined ? bytes.length === size : bytes.length >= size && bytes.length <= max && bytes.length % 4 === 0;
  if (!fits) throw new SnapshotError(`${what} is ${bytes.length} bytes, not ${max === undefined ? size : `${size} to ${max}`}`);
  return bytes;
}

function parseMachine(value: unknown): MachineDescription {
  const o = object(value, 'the machine description');
  const memoryBytes = integer(o['memoryBytes'], PAGE, MAX_MEMORY_BYTES, 'the memory size');
  if (memoryBytes % PAGE !== 0) throw new SnapshotError(`the memory size ${memoryBytes} is not a whole number of 4 KiB pages`);
  return {
    memoryBytes,
    cpus: integer(o['cpus'], 1, MAX_CPUS, 'the vCPU count'),
    cmdline: text(o['cmdline'], MAX_CMDLINE, 'the kernel command line'),
    virtio: list(o['virtio'], 'the virtio device list', 64).map((d, i) => {
      const device = object(d, `virtio slot ${i}`);
      return {
        name: text(device['name'], 256, `virtio slot ${i}'s name`),
        deviceType: integer(device['deviceType'], 1, 0xffff, `virtio slot ${i}'s type`),
      };
    }),
  };
}

/** The memory file's layout: plain name, regions in guest order without overlap, back to back in the file, as large as the machine. */
function parseMemory(value: unknown, machine: MachineDescription): MemoryLayout {
  const o = object(value, 'the memory layout');
  const file = text(o['file'], 255, 'the memory file name');
  if (file !== MEMORY_FILE) throw new SnapshotError(`the memory file is called ${JSON.stringify(file)}, not ${MEMORY_FILE}`);
  const bytes = integer(o['bytes'], 0, MAX_MEMORY_BYTES, 'the memory file size');
  if (bytes !== machine.memoryBytes) throw new SnapshotError(`the memory file holds ${bytes} bytes, the machine has ${machine.memoryBytes}`);
  let fileOffset = 0;
  let guestEnd = 0;
  const regions = list(o['regions'], 'the memory regions', 64).map((r, i) => {
    const region = object(r, `memory region ${i}`);
    const record = {
      guestAddress: integer(region['guestAddress'], 0, MAX_MEMORY_BYTES * 2, `memory region ${i}'s guest address`),
      size: integer(region['size'], PAGE, MAX_MEMORY_BYTES, `memory region ${i}'s size`),
      fileOffset: integer(region['fileOffset'], 0, MAX_MEMORY_BYTES, `memory region ${i}'s file offset`),
    };
    if (record.guestAddress % PAGE !== 0 || record.size % PAGE !== 0) throw new SnapshotError(`memory region ${i} is not page-aligned`);
    if (record.guestAddress < guestEnd) throw new SnapshotError(`memory region ${i} overlaps or precedes the one before it`);
    if (record.fileOffset !== fileOffset)
      throw new SnapshotError(`memory region ${i} is at file offset ${record.fileOffset}, expected ${fileOffset}`);
    fileOffset += record.size;
    guestEnd = record.guestAddress + record.size;
    return record;
  });
  if (fileOffset !== bytes) throw new SnapshotError(`the memory regions cover ${fileOffset} bytes, the memory file ${bytes}`);
  return { file, bytes, regions };
}

function parseVm(value: unknown): VmState {
  const o = object(value, 'the VM state');
  return {
    picMaster: blob(o['picMaster'], IRQCHIP_STATE_BYTES, 'the master PIC state'),
    picSlave: blob(o['picSlave'], IRQCHIP_STATE_BYTES, 'the slave PIC state'),
    ioapic: blob(o['ioapic'], IRQCHIP_STATE_BYTES, 'the IOAPIC state'),
    pit: blob(o['pit'], PIT_STATE_BYTES, 'the PIT state'),
    clockNs: unsigned64(o['clockNs'], 'the kvmclock'),
  };
}

function parseVcpu(value: unknown, id: number): VcpuState {
  const what = `vCPU ${id}`;
  const o = object(value, what);
  if (o['id'] !== id) throw new SnapshotError(`${what} is recorded as vCPU ${JSON.stringify(o['id'])}`);
  if ((o['xsave'] === undefined) === (o['fpu'] === undefined)) throw new SnapshotError(`${what} needs exactly one of an XSAVE area and an FPU state`);
  const msrs: MsrValue[] = list(o['msrs'], `${what}'s MSR list`, MAX_MSRS).map((m, i) => {
    if (!Array.isArray(m) || m.length !== 2) throw new SnapshotError(`${what}'s MSR ${i} is not an [index, value] pair`);
    return { index: integer(m[0], 0, 0xffff_ffff, `${what}'s MSR ${i} index`), data: unsigned64(m[1], `${what}'s MSR ${i} value`) };
  });
  return {
    id,
    mpState: integer(o['mpState'], 0, MAX_MP_STATE, `${what}'s MP state`),
    regs: blob(o['regs'], REGS_SIZE, `${what}'s registers`),
    sregs: blob(o['sregs'], SREGS_SIZE, `${what}'s special registers`),
    ...(o['xsave'] !== undefined ? { xsave: blob(o['xsave'], XSAVE_BYTES, `${what}'s XSAVE area`, MAX_XSAVE_BYTES) } : {}),
    ...(o['fpu'] !== undefined ? { fpu: blob(o['fpu'], FPU_BYTES, `${what}'s FPU state`) } : {}),
    ...(o['xcrs'] !== undefined ? { xcrs: blob(o['xcrs'], XCRS_BYTES, `${what}'s XCRs`) } : {}),
    debugRegs: blob(o['debugRegs'], DEBUGREGS_BYTES, `${what}'s debug registers`),
    lapic: blob(o['lapic'], LAPIC_BYTES, `${what}'s LAPIC`),
    msrs,
    events: blob(o['events'], VCPU_EVENTS_BYTES, `${what}'s pending events`),
    tscKhz: integer(o['tscKhz'], 0, 0xffff_ffff, `${what}'s TSC frequency`),
  };
}

/** Runs a device's own parser, its SavedStateError turned into the snapshot's error. */
function device<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SavedStateError) throw new SnapshotError(err.message);
    throw err;
  }
}

/** Checks everything read from a state file; throws SnapshotError naming the first field that is wrong. */
export function parseSnapshotState(value: unknown): SnapshotState {
  const o = object(value, 'the snapshot state');
  const machine = parseMachine(o['machine']);
  const memory = parseMemory(o['memory'], machine);
  const vcpus = list(o['vcpus'], 'the vCPU list', MAX_CPUS);
  if (vcpus.length !== machine.cpus) throw new SnapshotError(`the snapshot holds ${vcpus.length} vCPUs' state for a machine of ${machine.cpus}`);
  const virtio = list(o['virtio'], 'the virtio device states', 64);
  if (virtio.length !== machine.virtio.length)
    throw new SnapshotError(`the snapshot holds ${virtio.length} virtio device states for ${machine.virtio.length} slots`);
  return {
    createdAt: text(o['createdAt'], 64, 'the creation time'),
    machine,
    memory,
    vm: parseVm(o['vm']),
    vcpus: vcpus.map((v, i) => parseVcpu(v, i)),
    virtio: virtio.map((t, i) => {
      const state: TransportState = device(() => parseTransportState(t, `virtio slot ${i}`));
      if (state.deviceType !== machine.virtio[i]!.deviceType)
        throw new SnapshotError(
          `virtio slot ${i} holds the state of device type ${state.deviceType}, the machine has type ${machine.virtio[i]!.deviceType} there`,
        );
      return state;
    }),
    launch: object(o['launch'], 'the launch record'),
    cpuid: list(o['cpuid'], 'the CPUID list', MAX_CPUID_ENTRIES).map((e, i) => {
      if (!Array.isArray(e) || e.length !== 7) throw new SnapshotError(`CPUID entry ${i} is not 7 numbers`);
      const [fn, index, flags, eax, ebx, ecx, edx] = e.map((v: unknown, j: number) => integer(v, 0, 0xffff_ffff, `CPUID entry ${i} field ${j}`));
      return { function: fn!, index: index!, flags: flags!, eax: eax!, ebx: ebx!, ecx: ecx!, edx: edx! };
    }),
    legacy: {
      serial: device(() => parseSerialState(object(o['legacy'], 'the legacy device states')['serial'])),
      i8042: device(() => parseI8042State(object(o['legacy'], 'the legacy device states')['i8042'])),
    },
  };
}
