// Boots mvm's guest kernel and initramfs under QEMU's software emulation, so
// the init scripts can be checked on a real kernel without mvm's VMM. QEMU
// has no guest-signal device: the init's writes to it go nowhere, and the
// init then falls back to a kernel reset, which -no-reboot turns into QEMU
// exiting, after printing the exit status it could not deliver.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** Generous: a TCG boot takes about 3 s on an idle machine, more when the CPU is shared. */
const WAIT_LIMIT_MS = 60_000;
const GUEST_MEMORY = '256';

export class QemuGuest {
  private readonly qemu: ChildProcessWithoutNullStreams;
  private output = '';
  private readonly exit: Promise<number | null>;

  constructor(kernel: string, initrd: string, append: string, cpus = 1) {
    this.qemu = spawn('qemu-system-x86_64', [
      '-accel',
      'tcg',
      '-M',
      'microvm,acpi=off',
      '-smp',
      String(cpus),
      '-m',
      GUEST_MEMORY,
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-monitor',
      'none',
      '-serial',
      'stdio',
      '-no-reboot',
      '-kernel',
      kernel,
      '-initrd',
      initrd,
      '-append',
      append,
    ]);
    this.qemu.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
    this.qemu.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
    this.exit = new Promise((resolve) => this.qemu.on('exit', (code) => resolve(code)));
  }

  /** Everything the guest's console has printed so far. */
  get console(): string {
    return this.output;
  }

  /** Resolves once the console output matches PATTERN (searching from FROM); rejects after the limit or if QEMU exits first. */
  async waitFor(pattern: RegExp, from = 0): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let exited = false;
    void this.exit.then(() => {
      exited = true;
    });
    while (!pattern.test(this.output.slice(from))) {
      if (exited) throw new Error(`QEMU exited before the console showed ${pattern}; console:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`console never showed ${pattern}; console:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Types TEXT at the guest's console. */
  type(text: string): void {
    this.qemu.stdin.write(text);
  }

  /** Resolves with QEMU's exit code once the guest has reset (or rejects after the limit). */
  async exited(): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`QEMU still running; console:\n${this.output}`)), WAIT_LIMIT_MS);
    });
    try {
      return await Promise.race([this.exit, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.qemu.exitCode === null && this.qemu.signalCode === null) this.qemu.kill('SIGKILL');
  }
}
