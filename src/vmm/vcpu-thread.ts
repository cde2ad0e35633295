// Worker-thread entry: runs one vCPU's KVM_RUN loop. Port-I/O and MMIO exits
// go to the main thread through the exit mailbox (the main thread owns the
// devices), except virtio's interrupt status and acknowledgement, answered
// here from shared memory; any other exit ends the loop and is reported with the registers
// the main thread needs to explain it.
import { parentPort, workerData } from 'node:worker_threads';
import { threadId } from '../sys/libc.js';
import { VcpuFd } from '../kvm/vcpu.js';
import { ExitKind, ExitMailbox } from './exit-mailbox.js';
import { HaltProbe } from './halt-probe.js';
import { InterruptRegisterFastPath } from '../virtio/interrupt-fast-path.js';
import { VcpuPark } from './vcpu-park.js';
import { ExitCounter, type VcpuThreadData, type VcpuStopMessage } from './vcpu-protocol.js';

const data = workerData as VcpuThreadData;
const vcpu = VcpuFd.fromFd(data.fd, data.id, data.runMmapSize);
const mailbox = new ExitMailbox(data.mailbox);
const counts = new Float64Array(data.counters);
const haltProbe = new HaltProbe(data.haltProbe);
const interruptRegisters = new InterruptRegisterFastPath(data.interruptSlots);
const park = new VcpuPark(data.park);
haltProbe.publishThreadId(threadId());

function stop(message: VcpuStopMessage): void {
  parentPort?.postMessage(message);
}

function loop(): void {
  for (;;) {
    const exit = vcpu.runOnce();
    switch (exit.kind) {
      case 'io': {
        counts[ExitCounter.IO]!++;
        const bytes = vcpu.run.ioData(exit);
        const result = mailbox.call(ExitKind.PIO, exit.isWrite, exit.port, exit.size, exit.count, bytes);
        if (!exit.isWrite) bytes.set(result);
        break;
      }
      case 'mmio': {
        counts[ExitCounter.MMIO]!++;
        const bytes = vcpu.run.mmioData(exit.length);
        // A virtio interrupt's status read and acknowledgement: answered here, no round trip to the main thread.
        if (interruptRegisters.handle(exit.address, exit.isWrite, bytes)) break;
        const result = mailbox.call(ExitKind.MMIO, exit.isWrite, exit.address, bytes.length, 1, bytes);
        if (!exit.isWrite) bytes.set(result);
        break;
      }
      case 'intr':
        counts[ExitCounter.INTERRUPTED]!++;
        // Kicked out of KVM_RUN: maybe the halt watchdog asks how this vCPU is,
        // or the VMM wants it parked (a snapshot).
        haltProbe.answerIfAsked(vcpu);
        park.parkIfAsked(() => {
          vcpu.run.immediateExit = false;
        });
        break;
      case 'irq-window-open':
        counts[ExitCounter.INTERRUPTED]!++;
        break;
      default:
        counts[ExitCounter.OTHER]!++;
        stop({ type: 'stopped', exit: describeExit(exit), regs: safe(() => vcpu.getRegs()), sregs: safe(() => vcpu.getSregs()) });
        return;
    }
  }
}

/** Structured-clone-safe copy of an exit (bigints survive, functions would not). */
function describeExit<T extends object>(exit: T): T {
  return { ...exit };
}

function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

try {
  loop();
} catch (err) {
  stop({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
