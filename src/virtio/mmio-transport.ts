// The virtio-mmio version 2 register file (VIRTIO 1.2, 4.2.2) for one device:
// feature negotiation, the device status state machine (2.1), queue setup,
// notifications, interrupt status and the configuration window. It knows no
// device semantics: the device (device.ts) supplies features, config bytes
// and queue handling. Every value the driver writes is checked; a misuse is a
// counted warning, never an exception out of read()/write().
import type { BusDevice } from '../bus/bus.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { Feature, Interrupt, MVM_VENDOR_ID, Reg, Status, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION, featureBit } from './constants.js';
import { servesQueuesElsewhere, type DeviceContext, type VirtioDevice } from './device.js';
import { GuestErrors } from './guest-errors.js';
import { Virtqueue } from './queue.js';
import { SavedStateError, type TransportState } from './saved-state.js';

/** Registers are 32 bits wide; the spec requires 32-bit accesses to them (4.2.2.2). */
const REGISTER_WIDTH = 4;
/** Feature words are selected 32 bits at a time; we have two (64 feature bits). */
const FEATURE_WORDS = 2;
const U32_MASK = 0xffff_ffffn;
/** Transport features every device offers. */
const TRANSPORT_FEATURES = featureBit(Feature.VERSION_1) | featureBit(Feature.RING_EVENT_IDX) | featureBit(Feature.RING_INDIRECT_DESC);

export interface TransportOptions {
  /** Raises the device's interrupt line (an edge: pulse or irqfd write). */
  interrupt(): void;
}

export class MmioTransport implements BusDevice {
  readonly errors: GuestErrors;
  readonly queues: Virtqueue[];
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  /**
   * InterruptStatus, in shared memory: a device thread sets the used-buffer
   * bit itself, before it signals the irqfd, while this thread answers the
   * driver's reads and acknowledgements. Always changed with Atomics.
   */
  readonly interruptStatusWord = new Int32Array(new SharedArrayBuffer(4));
  private configGeneration = 0;
  private active = false;
  /**
   * The device's queues are served by another process (vhost-user), which
   * raises the interrupt itself by writing the irqfd: this transport never
   * learns that used buffers were added. Linux's virtio_mmio handler reads
   * INTERRUPT_STATUS first and skips its queues when the used-buffer bit is
   * clear, so such an interrupt would be lost. While the device is active the
   * bit therefore always reads as set (an ACK cannot clear it): every
   * interrupt makes the driver look at its used rings, which costs a
   * spurious look after a configuration-change interrupt and nothing else.
   * The other way (QEMU's for MMIO: the back-end signals an eventfd the VMM
   * watches, and the VMM sets the bit and raises the line) puts the VMM's
   * event loop on every completion; this keeps the data path out of it.
   */
  private readonly externalQueues: boolean;
  /**
   * InterruptStatus bits an acknowledgement leaves set (the used-buffer bit
   * of a vhost-user device, see externalQueues); shared with the vCPU
   * threads' fast path (src/virtio/interrupt-fast-path.ts), which answers
   * the same register.
   */
  readonly ackKeeps: number;

  constructor(
    readonly device: VirtioDevice,
    private readonly memory: GuestMemory,
    private readonly options: TransportOptions,
  ) {
    this.errors = new GuestErrors(device.name);
    this.externalQueues = servesQueuesElsewhere(device);
    this.ackKeeps = this.externalQueues ? Interrupt.USED_BUFFER : 0;
    this.queues = device.queueMaxSizes.map((max) => new Virtqueue(max, memory));
  }

  get offeredFeatures(): bigint {
    return this.device.features | TRANSPORT_FEATURES;
  }

  /** Negotiated features (meaningful once FEATURES_OK is set). */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }

  get deviceStatus(): number {
    return this.status;
  }

  /** The device changed its configuration: bump the generation and tell the driver. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    this.raise(Interrupt.CONFIG_CHANGE);
  }

  read(offset: number, data: Uint8Array): void {
    if (offset >= Reg.CONFIG) {
      this.readConfig(offset - Reg.CONFIG, data);
      return;
    }
    data.fill(0);
    if (data.length !== REGISTER_WIDTH || offset % REGISTER_WIDTH !== 0) {
      this.errors.warn(`${data.length}-byte read of register 0x${offset.toString(16)} (registers are read 32 bits at a time)`);
      return;
    }
    new DataView(data.buffer, data.byteOffset, data.byteLength).setUint32(0, this.readRegister(offset) >>> 0, true);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= Reg.CONFIG) {
      this.writeConfig(offset - Reg.CONFIG, data);
      return;
    }
    if (data.length !== REGISTER_WIDTH || offset % REGISTER_WIDTH !== 0) {
      this.errors.warn(`${data.length}-byte write to register 0x${offset.toString(16)} ignored (registers are written 32 bits at a time)`);
      return;
    }
    this.writeRegister(offset, new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true));
  }

  private readRegister(offset: number): number {
    const q = this.queues[this.queueSel];
    switch (offset) {
      case Reg.MAGIC:
        return VIRTIO_MMIO_MAGIC;
      case Reg.VERSION:
        return VIRTIO_MMIO_VERSION;
      case Reg.DEVICE_ID:
        return this.device.deviceType;
      case Reg.VENDOR_ID:
        return MVM_VENDOR_ID;
      case Reg.DEVICE_FEATURES:
        return this.deviceFeaturesSel < FEATURE_WORDS ? Number((this.offeredFeatures >> BigInt(32 * this.deviceFeaturesSel)) & U32_MASK) : 0;
      // A queue that does not exist reads as size 0: "not available" (4.2.3.2).
      case Reg.QUEUE_NUM_MAX:
        return q ? q.maxSize : 0;
      case Reg.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case Reg.INTERRUPT_STATUS:
        return Atomics.load(this.interruptStatusWord, 0);
      case Reg.STATUS:
        return this.status;
      case Reg.CONFIG_GENERATION:
        return this.configGeneration;
      case Reg.QUEUE_DESC_LOW:
        return q ? low(q.descTable) : 0;
      case Reg.QUEUE_DESC_HIGH:
        return q ? high(q.descTable) : 0;
      case Reg.QUEUE_DRIVER_LOW:
        return q ? low(q.availRing) : 0;
      case Reg.QUEUE_DRIVER_HIGH:
        return q ? high(q.availRing) : 0;
      case Reg.QUEUE_DEVICE_LOW:
        return q ? low(q.usedRing) : 0;
      case Reg.QUEUE_DEVICE_HIGH:
        return q ? high(q.usedRing) : 0;
      default:
        this.errors.warn(`read of write-only or unknown register 0x${offset.toString(16)}`);
        return 0;
    }
  }

  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case Reg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case Reg.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        return;
      case Reg.DRIVER_FEATURES:
        this.writeDriverFeatures(value);
        return;
      case Reg.QUEUE_SEL:
        this.queueSel = value;
        return;
      case Reg.QUEUE_NOTIFY:
        this.notify(value);
        return;
      case Reg.INTERRUPT_ACK:
        Atomics.and(this.interruptStatusWord, 0, ~(value & ~this.ackKeeps));
        return;
      case Reg.STATUS:
        this.writeStatus(value);
        return;
      case Reg.QUEUE_NUM:
      case Reg.QUEUE_READY:
      case Reg.QUEUE_DESC_LOW:
      case Reg.QUEUE_DESC_HIGH:
      case Reg.QUEUE_DRIVER_LOW:
      case Reg.QUEUE_DRIVER_HIGH:
      case Reg.QUEUE_DEVICE_LOW:
      case Reg.QUEUE_DEVICE_HIGH:
        this.writeQueueRegister(offset, value);
        return;
      default:
        this.errors.warn(`write of 0x${value.toString(16)} to read-only or unknown register 0x${offset.toString(16)} ignored`);
    }
  }

  private writeDriverFeatures(value: number): void {
    if ((this.status & Status.DRIVER) === 0 || (this.status & Status.FEATURES_OK) !== 0) {
      this.errors.warn('driver features written outside feature negotiation; ignored');
      return;
    }
    if (this.driverFeaturesSel >= FEATURE_WORDS) {
      if (value !== 0) this.errors.warn(`driver accepted features in word ${this.driverFeaturesSel}, which offers none`);
      return;
    }
    const shift = BigInt(32 * this.driverFeaturesSel);
    this.driverFeatures = (this.driverFeatures & ~(U32_MASK << shift)) | (BigInt(value >>> 0) << shift);
  }

  private writeQueueRegister(offset: number, value: number): void {
    const q = this.queues[this.queueSel];
    if (!q) {
      this.errors.warn(`queue register 0x${offset.toString(16)} written for queue ${this.queueSel}, which does not exist`);
      return;
    }
    if (offset === Reg.QUEUE_READY) {
      // Writing 0 takes a queue out of use; setting it ready again needs DRIVER_OK to be clear.
      if (value === 0) q.ready = false;
      else if (!(this.status & Status.DRIVER_OK)) q.ready = true;
      else this.errors.warn(`queue ${this.queueSel} made ready after DRIVER_OK; ignored`);
      return;
    }
    if (q.ready || this.status & Status.DRIVER_OK) {
      this.errors.warn(`queue ${this.queueSel} register 0x${offset.toString(16)} written while the queue is in use; ignored`);
      return;
    }
    switch (offset) {
      case Reg.QUEUE_NUM:
        q.size = value;
        return;
      case Reg.QUEUE_DESC_LOW:
        q.descTable = withLow(q.descTable, value);
        return;
      case Reg.QUEUE_DESC_HIGH:
        q.descTable = withHigh(q.descTable, value);
        return;
      case Reg.QUEUE_DRIVER_LOW:
        q.availRing = withLow(q.availRing, value);
        return;
      case Reg.QUEUE_DRIVER_HIGH:
        q.availRing = withHigh(q.availRing, value);
        return;
      case Reg.QUEUE_DEVICE_LOW:
        q.usedRing = withLow(q.usedRing, value);
        return;
      case Reg.QUEUE_DEVICE_HIGH:
        q.usedRing = withHigh(q.usedRing, value);
        return;
    }
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    if ((value & this.status) !== this.status) {
      this.errors.warn(`status 0x${value.toString(16)} clears bits of 0x${this.status.toString(16)} without a reset; ignored`);
      return;
    }
    const added = value & ~this.status;
    if (added & Status.FEATURES_OK) {
      const why = this.featuresRefusal();
      if (why) {
        // Leaving FEATURES_OK clear is how the device says no (2.2.2); the driver reads it back.
        this.errors.warn(`features refused: ${why}`);
        this.status = value & ~Status.FEATURES_OK;
        return;
      }
    }
    if (added & Status.DRIVER_OK && !(value & Status.FEATURES_OK)) {
      this.errors.warn('DRIVER_OK without FEATURES_OK; the device stays inactive');
      this.status = value & ~Status.DRIVER_OK;
      return;
    }
    this.status = value;
    if (added & Status.DRIVER_OK && !(value & Status.FAILED)) this.activate();
  }

  private featuresRefusal(): string | undefined {
    const unknown = this.driverFeatures & ~this.offeredFeatures;
    if (unknown) return `driver accepted features 0x${unknown.toString(16)} that were not offered`;
    if (!(this.driverFeatures & featureBit(Feature.VERSION_1))) return 'driver did not accept VERSION_1 (legacy drivers are not supported)';
    return undefined;
  }

  private activate(): void {
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i]!;
      if (!q.ready) continue;
      const why = q.invalidReason();
      if (why) {
        this.needsReset(`queue ${i}: ${why}`);
        return;
      }
      q.start({
        eventIdx: (this.driverFeatures & featureBit(Feature.RING_EVENT_IDX)) !== 0n,
        indirect: (this.driverFeatures & featureBit(Feature.RING_INDIRECT_DESC)) !== 0n,
      });
    }
    this.activateDevice();
  }

  /** Hands the device its context: on DRIVER_OK, and again when a snapshot is restored. */
  private activateDevice(): void {
    this.active = true;
    // The back-end's interrupts never pass through here: the used-buffer bit reads as set while it serves the queues.
    if (this.externalQueues) Atomics.or(this.interruptStatusWord, 0, Interrupt.USED_BUFFER);
    const context: DeviceContext = {
      memory: this.memory,
      queues: this.queues,
      features: this.driverFeatures,
      errors: this.errors,
      usedBuffersAdded: (q) => {
        if (this.active && q.needsInterrupt()) this.raise(Interrupt.USED_BUFFER);
      },
      needsReset: (reason) => this.needsReset(reason),
    };
    this.device.activate(context);
  }

  // ---- snapshots --------------------------------------------------------------

  /** The register file and every queue's positions, for a snapshot (the VM paused, the device idle). */
  saveState(): TransportState {
    return {
      deviceType: this.device.deviceType,
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeatures.toString(16),
      queueSel: this.queueSel,
      interruptStatus: Atomics.load(this.interruptStatusWord, 0),
      configGeneration: this.configGeneration,
      active: this.active,
      queues: this.queues.map((q) => q.saveState()),
    };
  }

  /**
   * Takes a saved register file (range-checked by parseTransportState) into
   * this fresh transport over the snapshot's memory, checking it against
   * this device, and restarts the device where it was. Throws
   * SavedStateError, leaving the transport unusable, when it does not fit.
   */
  restoreState(state: TransportState): void {
    const what = this.device.name;
    if (this.status !== 0) throw new Error('restoreState needs a transport the driver never touched');
    if (state.deviceType !== this.device.deviceType)
      throw new SavedStateError(`${what}: the snapshot has device type ${state.deviceType} in this slot, not ${this.device.deviceType}`);
    if (state.queues.length !== this.queues.length)
      throw new SavedStateError(`${what}: the snapshot has ${state.queues.length} queues, the device ${this.queues.length}`);
    const features = BigInt(`0x${state.driverFeatures}`);
    if (features & ~this.offeredFeatures) throw new SavedStateError(`${what}: the snapshot's features 0x${state.driverFeatures} were never offered`);
    const started = (state.status & Status.DRIVER_OK) !== 0 && (state.status & (Status.FAILED | Status.DEVICE_NEEDS_RESET)) === 0;
    if (state.active !== started)
      throw new SavedStateError(`${what}: the snapshot says active=${state.active} with status 0x${state.status.toString(16)}`);
    this.status = state.status;
    this.deviceFeaturesSel = state.deviceFeaturesSel;
    this.driverFeaturesSel = state.driverFeaturesSel;
    this.driverFeatures = features;
    this.queueSel = state.queueSel;
    Atomics.store(this.interruptStatusWord, 0, state.interruptStatus);
    this.configGeneration = state.configGeneration;
    state.queues.forEach((q, i) => {
      if (q.size > this.queues[i]!.maxSize) throw new SavedStateError(`${what} queue ${i}: size ${q.size} is larger than ${this.queues[i]!.maxSize}`);
      this.queues[i]!.restoreState(q, state.active, `${what} queue ${i}`);
    });
    if (state.active) this.activateDevice();
  }

  /** A queue notification that arrived without an MMIO exit (ioeventfd). */
  queueNotified(index: number): void {
    this.notify(index);
  }

  private notify(index: number): void {
    if (!this.active) {
      this.errors.warn(`queue ${index} notified before the device was started`);
      return;
    }
    const q = this.queues[index];
    if (!q?.ready) {
      this.errors.warn(`notification for queue ${index}, which is not in use`);
      return;
    }
    try {
      this.device.queueNotify(index);
    } catch (err) {
      // A device bug must not take the VMM down with it; the guest sees a device that needs a reset.
      this.needsReset(`internal error handling queue ${index}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** DEVICE_NEEDS_RESET: the device stops until the driver resets it; a config interrupt tells the driver (2.1.2). */
  private needsReset(reason: string): void {
    this.errors.warn(`${reason}; the device needs a reset`);
    this.active = false;
    // A dead back-end adds no more used buffers: the bit stops reading as set.
    if (this.externalQueues) Atomics.and(this.interruptStatusWord, 0, ~Interrupt.USED_BUFFER);
    this.device.reset();
    this.status |= Status.DEVICE_NEEDS_RESET;
    this.raise(Interrupt.CONFIG_CHANGE);
  }

  private reset(): void {
    if (this.active || this.status !== 0) this.device.reset();
    this.active = false;
    this.status = 0;
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = 0;
    this.driverFeatures = 0n;
    Atomics.store(this.interruptStatusWord, 0, 0);
    for (const q of this.queues) q.reset();
  }

  private raise(bit: number): void {
    Atomics.or(this.interruptStatusWord, 0, bit);
    this.options.interrupt();
  }

  private readConfig(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.device.configSize) {
      data.fill(0);
      this.errors.warn(`config read at ${offset}+${data.length} beyond the ${this.device.configSize}-byte config space`);
      return;
    }
    this.device.readConfig(offset, data);
  }

  private writeConfig(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.device.configSize) {
      this.errors.warn(`config write at ${offset}+${data.length} beyond the ${this.device.configSize}-byte config space ignored`);
      return;
    }
    this.device.writeConfig(offset, data);
  }
}

const TWO_32 = 0x1_0000_0000;
function low(address: number): number {
  return address % TWO_32;
}
function high(address: number): number {
  return Math.floor(address / TWO_32);
}
function withLow(address: number, value: number): number {
  return high(address) * TWO_32 + (value >>> 0);
}
/** Addresses above 2^53 cannot be RAM; they are kept as an unusable value that fails validation. */
function withHigh(address: number, value: number): number {
  const h = value >>> 0;
  return h >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : h * TWO_32 + low(address);
}
