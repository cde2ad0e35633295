// mvm's guest-signal device: one MMIO page through which the guest's init
// tells the VMM that userspace has started (boot complete) and asks it to
// power the VM off with an exit status, and through which the VMM asks the
// guest to shut down (a register the init polls). Linux without ACPI cannot
// power a machine off by itself, and measuring boot time needs an event the
// guest raises at a known point; this device gives both without a custom
// driver (init uses busybox `devmem`). Offsets: see layout.ts.
import { GUEST_SIGNAL_BOOT_MAGIC, GUEST_SIGNAL_BOOT_OFFSET, GUEST_SIGNAL_EXIT_OFFSET, GUEST_SIGNAL_STOP_OFFSET } from '../../arch/x86_64/layout.js';
import type { BusDevice } from '../../bus/bus.js';

export interface GuestSignalHandlers {
  bootComplete(): void;
  powerOff(status: number): void;
}

export class GuestSignal implements BusDevice {
  /** Writes that matched nothing (wrong offset, width or value): counted, never fatal. */
  ignoredWrites = 0;
  private stopRequested = false;

  constructor(private readonly handlers: GuestSignalHandlers) {}

  /** From now on the stop register reads 1; the guest's init powers off when it sees it. */
  requestStop(): void {
    this.stopRequested = true;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    // Little-endian: the flag is the low byte whatever width the guest reads with.
    if (offset === GUEST_SIGNAL_STOP_OFFSET && this.stopRequested && data.length > 0) data[0] = 1;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset === GUEST_SIGNAL_BOOT_OFFSET && data[0] === GUEST_SIGNAL_BOOT_MAGIC) {
      this.handlers.bootComplete();
    } else if (offset === GUEST_SIGNAL_EXIT_OFFSET && data.length >= 1) {
      // Any width up to 4 bytes; the status is truncated to a process exit status (0-255).
      this.handlers.powerOff(data[0]!);
    } else {
      this.ignoredWrites++;
    }
  }
}
