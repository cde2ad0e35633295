// Connects one virtio-mmio transport to KVM's fast paths where the host
// offers them: an irqfd per device (an interrupt is one eventfd write, no
// ioctl pair) and an ioeventfd per queue (the guest's QUEUE_NOTIFY write
// completes inside KVM; the main thread sees the eventfd become readable).
// Without them, interrupts are KVM_IRQ_LINE pulses and notifications
// arrive as ordinary MMIO exits through the bus, which always works.
import { EventNotifier } from '../sys/event-notifier.js';
import { Capability } from '../kvm/ioctls.js';
import type { Kvm } from '../kvm/system.js';
import type { VmFd } from '../kvm/vm.js';
import { UserError } from '../errors.js';
import { Reg } from './constants.js';
import type { ExternalEventFds } from './device.js';
import type { MmioTransport } from './mmio-transport.js';

/** QUEUE_NOTIFY is a 32-bit register. */
const NOTIFY_WIDTH = 4;

export interface SlotWiring {
  /** How the transport raises its interrupt. */
  readonly interrupt: () => void;
  readonly fastInterrupts: boolean;
  /** The irqfd (fastInterrupts only): another thread raises the interrupt by signalling it. */
  readonly irqFd: number | undefined;
  /** Called once the transport exists: attaches the queue notifiers. Returns how many queues got one. */
  attachNotifiers(transport: MmioTransport, base: number): number;
  /**
   * For a device served on another thread: one eventfd per queue, registered
   * as the queue's ioeventfd where KVM allows, never watched here (the device
   * thread waits on them). A notification that still arrives as an MMIO exit
   * is passed on by signalling the same eventfd.
   */
  queueEventFds(transport: MmioTransport, base: number): EventNotifier[];
  /**
   * For a device another process serves (vhost-user): one ioeventfd per
   * queue that nobody here watches, and the irqfd, handed to that process.
   * Needs KVM's irqfd and ioeventfd; a UserError without them.
   */
  attachExternalNotifiers(transport: MmioTransport, base: number): ExternalEventFds;
  close(): void;
}

export function wireSlot(kvm: Kvm, vm: VmFd, gsi: number): SlotWiring {
  const notifiers: EventNotifier[] = [];
  let interrupt = () => vm.pulseIrq(gsi);
  let fastInterrupts = false;
  let irqFd: number | undefined;
  if (kvm.checkExtension(Capability.IRQFD) > 0) {
    const irq = EventNotifier.create();
    try {
      vm.registerIrqfd(irq.fd, gsi);
      notifiers.push(irq);
      interrupt = () => irq.signal();
      fastInterrupts = true;
      irqFd = irq.fd;
    } catch {
      irq.close();
    }
  }
  const ioeventfd = kvm.checkExtension(Capability.IOEVENTFD) > 0;
  return {
    interrupt: () => interrupt(),
    fastInterrupts,
    irqFd,
    queueEventFds(transport, base) {
      return transport.queues.map((_, index) => {
        const notifier = EventNotifier.create();
        notifiers.push(notifier);
        if (ioeventfd) {
          try {
            vm.registerIoeventfd(base + Reg.QUEUE_NOTIFY, NOTIFY_WIDTH, notifier.fd, { datamatch: index });
          } catch {
            // The MMIO exit path signals the notifier instead.
          }
        }
        return notifier;
      });
    },
    attachNotifiers(transport, base) {
      if (!ioeventfd) return 0;
      let attached = 0;
      transport.queues.forEach((_, index) => {
        const notifier = EventNotifier.create();
        try {
          // Datamatch on the queue index: each queue has its own eventfd; other values still exit.
          vm.registerIoeventfd(base + Reg.QUEUE_NOTIFY, NOTIFY_WIDTH, notifier.fd, { datamatch: index });
        } catch {
          notifier.close();
          return;
        }
        notifier.watch(() => transport.queueNotified(index));
        notifiers.push(notifier);
        attached++;
      });
      return attached;
    },
    attachExternalNotifiers(transport, base) {
      const irq = notifiers[0];
      if (!fastInterrupts || !irq || !ioeventfd) {
        throw new UserError(`${transport.device.name} needs KVM's irqfd and ioeventfd, which this host's KVM does not offer`);
      }
      const kicks = transport.queues.map((_, index) => {
        const notifier = EventNotifier.create();
        notifiers.push(notifier);
        vm.registerIoeventfd(base + Reg.QUEUE_NOTIFY, NOTIFY_WIDTH, notifier.fd, { datamatch: index });
        return notifier.fd;
      });
      // The driver acknowledges every interrupt by writing INTERRUPT_ACK, an
      // MMIO exit into this process per completion. For such a device the ACK
      // changes nothing (its used-ring bit always reads as set: see
      // mmio-transport.ts), so KVM absorbs the write through an ioeventfd
      // nobody reads. The cost: a configuration-change bit (raised only with
      // DEVICE_NEEDS_RESET) then stays set until the driver resets the device.
      const ack = EventNotifier.create();
      notifiers.push(ack);
      vm.registerIoeventfd(base + Reg.INTERRUPT_ACK, NOTIFY_WIDTH, ack.fd);
      return { kicks, call: irq.fd };
    },
    close() {
      for (const n of notifiers.splice(0)) n.close();
    },
  };
}
