// What a virtio device implements. A device knows its features, its
// configuration bytes and what to do with the chains on its queues; it never
// sees a register offset. The transport (mmio-transport.ts) owns the
// registers, the status state machine and feature negotiation.
import type { GuestMemory } from '../memory/guest-memory.js';
import type { GuestErrors } from './guest-errors.js';
import type { Virtqueue } from './queue.js';

/** What the transport gives a device when the driver sets DRIVER_OK. */
export interface DeviceContext {
  readonly memory: GuestMemory;
  readonly queues: readonly Virtqueue[];
  /** Features both sides agreed on. */
  readonly features: bigint;
  readonly errors: GuestErrors;
  /** Call after adding used entries: interrupts the driver if the queue's rules ask for it. */
  usedBuffersAdded(queue: Virtqueue): void;
  /** The device cannot go on until the driver resets it (DEVICE_NEEDS_RESET, 2.1.2). */
  needsReset(reason: string): void;
}

export interface VirtioDevice {
  /** Device ID (VIRTIO 1.2, 5). */
  readonly deviceType: number;
  /** A short name for logs: "virtio-blk (vda)". */
  readonly name: string;
  /** Device-specific feature bits offered; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX. */
  readonly features: bigint;
  /** Maximum size of each queue; the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Bytes of device configuration space. */
  readonly configSize: number;
  /** Fills `data` from the device configuration space at `offset` (already bounds-checked by the transport). */
  readConfig(offset: number, data: Uint8Array): void;
  /** Driver writes to configuration space; most devices ignore them. */
  writeConfig(offset: number, data: Uint8Array): void;
  /** The driver set DRIVER_OK with valid queues. */
  activate(context: DeviceContext): void;
  /** The driver notified queue `index` (only after activate). */
  queueNotify(index: number): void;
  /** The driver reset the device: drop in-flight work and forget the context. */
  reset(): void;
  /**
   * Resolves once no request the device took from its queues is still being
   * served (host I/O in flight); a pause for a snapshot waits for it. Devices
   * that finish every request before queueNotify returns need none.
   */
  idle?(): Promise<void>;
}

/** The descriptors that let another process serve a device's queues without this one (vhost-user). */
export interface ExternalEventFds {
  /** Per queue: the ioeventfd KVM signals when the driver writes the queue's index to QUEUE_NOTIFY. */
  readonly kicks: readonly number[];
  /** The irqfd that raises the device's interrupt when written. */
  readonly call: number;
}

/**
 * A device whose queues another process serves (a vhost-user back-end): the
 * VMM hands it the kick and call eventfds instead of watching them itself,
 * so the data path never enters the VMM.
 */
export interface ExternallyServedDevice extends VirtioDevice {
  readonly servesQueuesElsewhere: true;
  bindEventFds(fds: ExternalEventFds): void;
}

export function servesQueuesElsewhere(device: VirtioDevice): device is ExternallyServedDevice {
  return (device as Partial<ExternallyServedDevice>).servesQueuesElsewhere === true;
}
