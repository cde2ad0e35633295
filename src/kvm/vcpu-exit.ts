// Decodes the shared kvm_run page after KVM_RUN returns into a typed exit.
// Offsets are those of struct kvm_run in <linux/kvm.h> (x86_64).

/** struct kvm_run header fields. */
const RUN_IMMEDIATE_EXIT = 1; // u8
const RUN_EXIT_REASON = 8; // u32
/** The per-exit union starts here. */
const RUN_UNION = 32;

// KVM_EXIT_IO: u8 direction, u8 size, u16 port, u32 count, u64 data_offset.
const IO_DIRECTION = RUN_UNION;
const IO_SIZE = RUN_UNION + 1;
const IO_PORT = RUN_UNION + 2;
const IO_COUNT = RUN_UNION + 4;
const IO_DATA_OFFSET = RUN_UNION + 8;
const KVM_EXIT_IO_OUT = 1;

// KVM_EXIT_MMIO: u64 phys_addr, u8 data[8], u32 len, u8 is_write.
const MMIO_ADDRESS = RUN_UNION;
const MMIO_DATA = RUN_UNION + 8;
const MMIO_LENGTH = RUN_UNION + 16;
const MMIO_IS_WRITE = RUN_UNION + 20;

// KVM_EXIT_INTERNAL_ERROR: u32 suberror, u32 ndata, u64 data[16].
const INTERNAL_SUBERROR = RUN_UNION;
const INTERNAL_NDATA = RUN_UNION + 4;
const INTERNAL_DATA = RUN_UNION + 8;
const INTERNAL_MAX_DATA = 16;

// KVM_EXIT_FAIL_ENTRY: u64 hardware_entry_failure_reason, u32 cpu.
// KVM_EXIT_SYSTEM_EVENT: u32 type, u32 ndata, u64 data[].
// KVM_EXIT_UNKNOWN: u64 hardware_exit_reason.

export const ExitReason = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

const reasonNames = new Map<number, string>(Object.entries(ExitReason).map(([k, v]) => [v, k.toLowerCase()]));

export function exitReasonName(reason: number): string {
  return reasonNames.get(reason) ?? `reason ${reason}`;
}

/** KVM_INTERNAL_ERROR_* sub-errors, named in messages. */
const internalSuberrors: Record<number, string> = {
  1: 'emulation failure',
  2: 'simultaneous exception',
  3: 'delivery event',
  4: 'unexpected exit reason',
};

export function internalSuberrorName(code: number): string {
  return internalSuberrors[code] ?? `sub-error ${code}`;
}

export type VcpuExit =
  | { kind: 'io'; port: number; size: number; count: number; isWrite: boolean; dataOffset: number }
  | { kind: 'mmio'; address: number; length: number; isWrite: boolean }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'intr' }
  | { kind: 'irq-window-open' }
  | { kind: 'internal-error'; suberror: number; data: bigint[] }
  | { kind: 'fail-entry'; hardwareReason: bigint; cpu: number }
  | { kind: 'system-event'; type: number }
  | { kind: 'unknown'; hardwareReason: bigint }
  | { kind: 'other'; reason: number };

/** A view of one vCPU's kvm_run page. */
export class RunPage {
  private readonly view: DataView;
  readonly bytes: Uint8Array;

  constructor(buffer: ArrayBuffer) {
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  set immediateExit(on: boolean) {
    this.view.setUint8(RUN_IMMEDIATE_EXIT, on ? 1 : 0);
  }

  get exitReason(): number {
    return this.view.getUint32(RUN_EXIT_REASON, true);
  }

  decode(): VcpuExit {
    const v = this.view;
    const reason = this.exitReason;
    switch (reason) {
      case ExitReason.IO:
        return {
          kind: 'io',
          isWrite: v.getUint8(IO_DIRECTION) === KVM_EXIT_IO_OUT,
          size: v.getUint8(IO_SIZE),
          port: v.getUint16(IO_PORT, true),
          count: v.getUint32(IO_COUNT, true),
          dataOffset: Number(v.getBigUint64(IO_DATA_OFFSET, true)),
        };
      case ExitReason.MMIO:
        return {
          kind: 'mmio',
          address: Number(v.getBigUint64(MMIO_ADDRESS, true)),
          length: v.getUint32(MMIO_LENGTH, true),
          isWrite: v.getUint8(MMIO_IS_WRITE) !== 0,
        };
      case ExitReason.HLT:
        return { kind: 'hlt' };
      case ExitReason.SHUTDOWN:
        return { kind: 'shutdown' };
      case ExitReason.INTR:
        return { kind: 'intr' };
      case ExitReason.IRQ_WINDOW_OPEN:
        return { kind: 'irq-window-open' };
      case ExitReason.INTERNAL_ERROR: {
        const count = Math.min(v.getUint32(INTERNAL_NDATA, true), INTERNAL_MAX_DATA);
        const data: bigint[] = [];
        for (let i = 0; i < count; i++) data.push(v.getBigUint64(INTERNAL_DATA + i * 8, true));
        return { kind: 'internal-error', suberror: v.getUint32(INTERNAL_SUBERROR, true), data };
      }
      case ExitReason.FAIL_ENTRY:
        return { kind: 'fail-entry', hardwareReason: v.getBigUint64(RUN_UNION, true), cpu: v.getUint32(RUN_UNION + 8, true) };
      case ExitReason.SYSTEM_EVENT:
        return { kind: 'system-event', type: v.getUint32(RUN_UNION, true) };
      case ExitReason.UNKNOWN:
        return { kind: 'unknown', hardwareReason: v.getBigUint64(RUN_UNION, true) };
      default:
        return { kind: 'other', reason };
    }
  }

  /** The bytes of a port-I/O exit's data (count * size bytes at data_offset). */
  ioData(exit: { dataOffset: number; size: number; count: number }): Uint8Array {
    const length = exit.size * exit.count;
    if (exit.dataOffset + length > this.bytes.length) {
      throw new RangeError('KVM reported port-I/O data outside the kvm_run page');
    }
    return this.bytes.subarray(exit.dataOffset, exit.dataOffset + length);
  }

  /** The 8-byte data field of an MMIO exit, of which `length` bytes count. */
  mmioData(length: number): Uint8Array {
    return this.bytes.subarray(MMIO_DATA, MMIO_DATA + Math.min(length, 8));
  }
}
