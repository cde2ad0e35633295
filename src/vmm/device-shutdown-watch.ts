// Notices the guest kernel shutting its devices down: Linux's
// kernel_shutdown_prepare() (halt, power-off, restart) resets every virtio
// device (Debian's 6.1 has virtio_dev_shutdown). That is the only sign a
// power-off leaves when the kernel has no way to power off: its "reboot:
// Power down" goes to a console it has just reset (hvc0), and then it simply
// runs on. Polled by the halt watchdog every period: a few property reads.
import { Status } from '../virtio/constants.js';

/** What this needs of a virtio-mmio transport. */
export interface DeviceStatusSource {
  readonly deviceStatus: number;
}

export class DeviceShutdownWatch {
  /** Devices a driver has brought up (DRIVER_OK) since boot: the ones a shutdown resets. */
  private readonly driven = new Set<DeviceStatusSource>();

  constructor(private readonly devices: readonly DeviceStatusSource[]) {}

  /**
   * True once every device a driver brought up has been reset (status 0)
   * again. A device no driver ever took (a module the kernel lacks) does not
   * count; a guest without virtio devices never shows a shutdown this way.
   */
  check(): boolean {
    for (const d of this.devices) if (d.deviceStatus & Status.DRIVER_OK) this.driven.add(d);
    if (this.driven.size === 0) return false;
    for (const d of this.driven) if (d.deviceStatus !== 0) return false;
    return true;
  }
}
