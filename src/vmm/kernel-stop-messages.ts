// What the guest kernel's own console lines say about how the machine
// stopped. Linux prints these at KERN_EMERG, so they appear even with
// `quiet`:
//   "reboot: Power down"        kernel_power_off(): echo o > /proc/sysrq-trigger,
//                               orderly_poweroff(). Without a power-off device the
//                               kernel then simply runs on: the VMM ends the VM on it.
//   "reboot: System halted"     kernel_halt(): halt -f, and poweroff -f too (Linux
//                               turns POWER_OFF into HALT when it cannot power off);
//                               the vCPUs then halt for good (src/vmm/halt-watchdog.ts).
//   "Kernel panic - not syncing" panic(); with panic=-1 the i8042 reset follows.
// The first two come after the kernel has shut its devices down, and
// Debian's 6.1 resets virtio devices then: on hvc0 they are lost, and the VMM
// tells a shutdown from the devices' resets instead (src/vmm/halt-watchdog.ts).
// On the UART (--console serial) and with kernels that leave virtio alone
// they are seen here.
// The lines come through the same console as the guest's programs, so a
// program could print them too; the worst it can do is end its own VM, which
// a guest may do anyway.

/**
 * kernel_power_off()'s line (kernel/reboot.c, pr_fmt "reboot: " since 3.x),
 * alone on its line or after printk's "[ seconds]" stamp. The prefix is
 * required: a user typing "Power down" into `cat` must not end the VM.
 */
const POWER_DOWN = /(^|\] )reboot: Power down$/;
/** kernel_halt()'s line, in the same form. */
const SYSTEM_HALTED = /(^|\] )reboot: System halted$/;
/** panic()'s first line. */
const KERNEL_PANIC = 'Kernel panic - not syncing';

/** A console line longer than this is no kernel message: only its start is kept. */
const MAX_LINE_BYTES = 512;

/** Removes what a terminal would not show (\r, escape bytes) and trailing blanks. */
function clean(line: string): string {
  return line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trimEnd();
}

/**
 * Watches one console's output, line by line, for the kernel's power-down
 * line and calls `onPowerDown` once when it sees it. One per console device:
 * lines of two devices must not be glued together.
 */
export class PowerDownWatcher {
  private partial = '';
  private seen = false;

  constructor(private readonly onPowerDown: () => void) {}

  push(bytes: Uint8Array): void {
    if (this.seen) return;
    const text = this.partial + Buffer.from(bytes).toString('latin1');
    const lines = text.split('\n');
    this.partial = lines.pop()!.slice(0, MAX_LINE_BYTES);
    for (const line of lines) {
      if (POWER_DOWN.test(clean(line))) {
        this.seen = true;
        this.onPowerDown();
        return;
      }
    }
  }
}

/** The guest kernel panicked, judging by its last console lines. */
export function showsKernelPanic(lines: readonly string[]): boolean {
  return lines.some((l) => l.includes(KERNEL_PANIC));
}

/** The guest kernel said it halted the machine (halt -f, poweroff -f), judging by its last console lines. */
export function showsKernelHalt(lines: readonly string[]): boolean {
  return lines.some((l) => SYSTEM_HALTED.test(clean(l)));
}
