// Every instance a benchmark starts is stopped when the benchmark ends,
// however it ends: normally (stopAll), by an error (the caller's finally), or
// by Ctrl-C / SIGTERM (a handler stops them all, then exits as the signal
// would). Idle VMs and containers left behind would hold gigabytes.
import type { BenchInstance } from './side.js';

/** Shell convention for "ended by signal N": 128 + N. */
const SIGNAL_EXIT_BASE = 128;
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

export class InstanceRegistry {
  private readonly live = new Set<BenchInstance>();
  private readonly handlers: Array<[NodeJS.Signals, () => void]> = [];

  /** Stops all live instances on these signals until dispose(). */
  constructor(private readonly say: (text: string) => void = () => undefined) {
    for (const [signal, number] of Object.entries(SIGNAL_NUMBERS) as Array<[NodeJS.Signals, number]>) {
      const handler = () => {
        this.say(`${signal}: stopping ${this.live.size} instance(s)`);
        void this.stopAll().finally(() => process.exit(SIGNAL_EXIT_BASE + number));
      };
      process.on(signal, handler);
      this.handlers.push([signal, handler]);
    }
  }

  /** Tracks INSTANCE until its process has ended; returns it. */
  add(instance: BenchInstance): BenchInstance {
    this.live.add(instance);
    void instance.exited.then(() => this.live.delete(instance));
    return instance;
  }

  get size(): number {
    return this.live.size;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((i) => i.stop()));
  }

  /** Stops everything still running and removes the signal handlers. */
  async dispose(): Promise<void> {
    await this.stopAll();
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.length = 0;
  }
}
