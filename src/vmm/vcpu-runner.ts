// The main-thread side of one vCPU thread: starts the worker, serves its
// port-I/O and MMIO exits from the buses, and reports how it stopped.
import { Worker } from 'node:worker_threads';
import { VCPU_THREAD_ENTRY } from '../runtime/build-layout.js';
import type { VcpuFd } from '../kvm/vcpu.js';
import type { Bus } from '../bus/bus.js';
import type { SharedInterruptSlot } from '../virtio/interrupt-fast-path.js';
import { ExitKind, ExitMailbox, type MailboxRequest } from './exit-mailbox.js';
import { HaltProbe, type VerdictValue } from './halt-probe.js';
import { VcpuPark } from './vcpu-park.js';
import type { WatchedVcpu } from './halt-watchdog.js';
import { EXIT_COUNTER_SLOTS, ExitCounter, type VcpuStopMessage, type VcpuThreadData } from './vcpu-protocol.js';

export interface VcpuExitCounts {
  io: number;
  mmio: number;
  interrupted: number;
  other: number;
}

export class VcpuRunner implements WatchedVcpu {
  private readonly mailbox = new ExitMailbox();
  private readonly haltProbe = new HaltProbe();
  private readonly park = new VcpuPark();
  private readonly counters = new SharedArrayBuffer(EXIT_COUNTER_SLOTS * 8);
  private readonly counts = new Float64Array(this.counters);
  private worker: Worker | undefined;
  private stopped = false;

  constructor(
    private readonly vcpu: VcpuFd,
    private readonly runMmapSize: number,
    private readonly buses: { pio: Bus; mmio: Bus },
    private readonly onStop: (id: number, message: VcpuStopMessage) => void,
    /** Interrupts the vCPU thread `tid`'s KVM_RUN (a signal with a handler). */
    private readonly kick: (tid: number) => void,
    /** virtio-mmio slots whose interrupt registers the vCPU thread answers itself. */
    private readonly interruptSlots: readonly SharedInterruptSlot[] = [],
  ) {}

  get id(): number {
    return this.vcpu.id;
  }

  start(): void {
    const data: VcpuThreadData = {
      fd: this.vcpu.fd,
      id: this.vcpu.id,
      runMmapSize: this.runMmapSize,
      mailbox: this.mailbox.shared,
      counters: this.counters,
      haltProbe: this.haltProbe.shared,
      interruptSlots: [...this.interruptSlots],
      park: this.park.shared,
    };
    this.worker = new Worker(VCPU_THREAD_ENTRY, { workerData: data });
    this.worker.on('message', (message: VcpuStopMessage) => this.finish(message));
    this.worker.on('error', (err) => this.finish({ type: 'failed', message: err.message }));
    void this.mailbox.serve(
      (request) => this.dispatch(request),
      () => this.stopped,
    );
  }

  exitCounts(): VcpuExitCounts {
    const c = this.counts;
    return { io: c[ExitCounter.IO]!, mmio: c[ExitCounter.MMIO]!, interrupted: c[ExitCounter.INTERRUPTED]!, other: c[ExitCounter.OTHER]! };
  }

  /**
   * Parks the vCPU thread out of KVM_RUN (its last I/O exit completed), so
   * `vcpuFd` may be read and written from this thread. False when the thread
   * has stopped (the VM is over) or was never started.
   */
  async pause(): Promise<boolean> {
    if (this.stopped || !this.worker) return false;
    return this.park.park(this.vcpu.run, this.haltProbe.threadId, this.kick, () => this.stopped);
  }

  /** Lets a paused vCPU thread run again. */
  resume(): void {
    if (this.park.isOpen) this.park.resume();
  }

  /** The vCPU itself, for its state while paused; never to run. */
  get vcpuFd(): VcpuFd {
    return this.vcpu;
  }

  // ---- WatchedVcpu: what the halt watchdog needs ----------------------------

  activity(): number {
    const c = this.counts;
    return c[ExitCounter.IO]! + c[ExitCounter.MMIO]! + c[ExitCounter.OTHER]!;
  }

  ask(): number {
    return this.haltProbe.ask(this.vcpu.run, this.kick);
  }

  answer(request: number): VerdictValue | undefined {
    return this.haltProbe.answer(request);
  }

  private dispatch(request: MailboxRequest): void {
    const bus = request.kind === ExitKind.PIO ? this.buses.pio : this.buses.mmio;
    if (request.count === 1) {
      if (request.isWrite) bus.write(request.address, request.data);
      else bus.read(request.address, request.data);
      return;
    }
    // rep ins/outs: one access per element, all at the same port.
    for (let i = 0; i < request.count; i++) {
      const element = request.data.subarray(i * request.size, (i + 1) * request.size);
      if (request.isWrite) bus.write(request.address, element);
      else bus.read(request.address, element);
    }
  }

  private finish(message: VcpuStopMessage): void {
    if (this.stopped) return;
    this.stopped = true;
    this.mailbox.wake();
    this.onStop(this.vcpu.id, message);
  }
}
