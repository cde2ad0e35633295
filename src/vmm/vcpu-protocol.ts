// What the main thread and a vCPU thread tell each other, besides the exit mailbox.
import type { KvmRegs, KvmSregs } from '../kvm/structs.js';
import type { VcpuExit } from '../kvm/vcpu-exit.js';
import type { SharedInterruptSlot } from '../virtio/interrupt-fast-path.js';

export interface VcpuThreadData {
  fd: number;
  id: number;
  runMmapSize: number;
  mailbox: SharedArrayBuffer;
  /** Float64 per ExitCounter slot, written by the vCPU thread only. */
  counters: SharedArrayBuffer;
  /** The halt probe's slots (src/vmm/halt-probe.ts). */
  haltProbe: SharedArrayBuffer;
  /** virtio-mmio slots whose interrupt registers this thread answers itself (src/virtio/interrupt-fast-path.ts). */
  interruptSlots: SharedInterruptSlot[];
  /** The park protocol's slots (src/vmm/vcpu-park.ts). */
  park: SharedArrayBuffer;
}

/** Slots of the per-vCPU exit counters. */
export const ExitCounter = { IO: 0, MMIO: 1, INTERRUPTED: 2, OTHER: 3 } as const;
export const EXIT_COUNTER_SLOTS = 4;

export type VcpuStopMessage = { type: 'stopped'; exit: VcpuExit; regs?: KvmRegs; sregs?: KvmSregs } | { type: 'failed'; message: string };
