// Pausing a whole microVM so its state holds still: the halt watchdog stops
// asking, every vCPU thread parks out of KVM_RUN (src/vmm/vcpu-park.ts), then
// every virtio device finishes the requests it already took from its queues
// (a disk write in flight would otherwise land after the state was read).
// Resuming tells each guest's kvmclock it was stopped and lets the threads go.
import { UserError } from '../errors.js';
import type { VirtioDevice } from '../virtio/device.js';
import type { VcpuRunner } from './vcpu-runner.js';

/** A pause that cannot be done now: one line for whoever asked (the API, the CLI). */
export class PauseRefusedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PauseRefusedError';
  }
}

export type PauseState = 'running' | 'pausing' | 'paused';

export class PauseControl {
  private current: PauseState = 'running';

  constructor(
    private readonly runners: readonly VcpuRunner[],
    private readonly watchdog: { start(): void; stop(): void },
    private readonly devices: () => readonly VirtioDevice[],
  ) {}

  get state(): PauseState {
    return this.current;
  }

  /** Resolves once every vCPU is parked and every device idle; refuses a second pause and a VM that has stopped. */
  async pause(): Promise<void> {
    if (this.current !== 'running') throw new PauseRefusedError(`the VM is already ${this.current}`);
    this.current = 'pausing';
    this.watchdog.stop();
    const parked = await Promise.all(this.runners.map((r) => r.pause()));
    if (parked.some((p) => !p)) {
      // The VM is over: let any parked thread see that too, but leave the watchdog off.
      for (const runner of this.runners) runner.resume();
      this.current = 'running';
      throw new PauseRefusedError('the VM stopped (or never started) while it was being paused');
    }
    await Promise.all(this.devices().map((d) => d.idle?.()));
    this.current = 'paused';
  }

  /** Lets the VM run again after a pause. */
  resume(): void {
    if (this.current !== 'paused') throw new PauseRefusedError(`the VM is ${this.current}, not paused`);
    for (const runner of this.runners) runner.vcpuFd.notifyPaused();
    this.resumeThreads();
  }

  private resumeThreads(): void {
    for (const runner of this.runners) runner.resume();
    this.current = 'running';
    this.watchdog.start();
  }
}
