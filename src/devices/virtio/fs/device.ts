// virtio-fs (VIRTIO 1.2, 5.11): a FUSE file system whose requests travel over
// virtqueues. mvm does not serve them: a vhost-user back-end (virtiofsd) maps
// guest RAM, reads the queues when KVM signals the kick ioeventfd, and raises
// the interrupt by writing the irqfd. This device only gives the guest its
// configuration (the mount tag) and, when the driver starts or resets the
// device, tells the back-end where the rings are (vhost-user set-up messages).
//
// The rings' addresses come from the driver; the transport has already
// checked that each ring lies inside guest RAM, and they are checked again
// here against the shared regions before being translated, so the back-end
// is never pointed outside the memory the guest owns.
import type { MemoryRegion } from '../../../memory/guest-memory.js';
import { watchReadable, type FdWatch } from '../../../sys/event-notifier.js';
import type { DeviceContext, ExternalEventFds, ExternallyServedDevice } from '../../../virtio/device.js';
import { Feature, featureBit } from '../../../virtio/constants.js';
import type { Virtqueue } from '../../../virtio/queue.js';
import { type Handshake, VhostUserError, type VhostUserFrontend } from '../vhost-user/frontend.js';
import {
  F_PROTOCOL_FEATURES,
  MAX_MEMORY_REGIONS,
  type MemoryTableRegion,
  Request,
  encodeMemTable,
  encodeU64,
  encodeVringAddr,
  encodeVringFd,
  encodeVringState,
} from '../vhost-user/protocol.js';

/** Device ID of a file system device (VIRTIO 1.2, 5). */
export const VIRTIO_ID_FS = 26;
/** struct virtio_fs_config: tag[36] (UTF-8, NUL-padded, not necessarily terminated), num_request_queues (le32). */
export const FS_TAG_BYTES = 36;
const CONFIG_BYTES = FS_TAG_BYTES + 4;
/** One high-priority queue (FUSE interrupts and forgets) and one request queue. */
const REQUEST_QUEUES = 1;
/** Ring size offered per queue; virtiofsd (libvhost-user) accepts up to 1024. */
const QUEUE_SIZE = 1024;
/** Transport features the transport offers every driver: the back-end has to implement each. */
const REQUIRED_BACKEND_FEATURES = featureBit(Feature.VERSION_1) | featureBit(Feature.RING_EVENT_IDX) | featureBit(Feature.RING_INDIRECT_DESC);

export class VirtioFs implements ExternallyServedDevice {
  readonly servesQueuesElsewhere = true;
  readonly deviceType = VIRTIO_ID_FS;
  readonly name: string;
  /** No device-specific features (no notification queue, no DAX window). */
  readonly features = 0n;
  readonly queueMaxSizes: readonly number[] = Array.from({ length: 1 + REQUEST_QUEUES }, () => QUEUE_SIZE);
  readonly configSize = CONFIG_BYTES;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private eventFds: ExternalEventFds | undefined;
  private context: DeviceContext | undefined;
  /** Queues the back-end was told to run, so a reset can stop them. */
  private started: number[] = [];
  private watch: FdWatch | undefined;
  /** The VM is stopping: the back-end going away now is expected. */
  private closed = false;

  /**
   * `handshake`: what the frontend's handshake returned (done before the VM
   * starts, so a back-end that cannot speak is a failure at start).
   */
  constructor(
    readonly tag: string,
    private readonly backend: VhostUserFrontend,
    private readonly handshake: Handshake,
    /** Where device problems go when no driver is there to be told (a line on the VMM's stderr). */
    private readonly warn: (message: string) => void,
  ) {
    this.name = `virtio-fs (${tag})`;
    const missing = REQUIRED_BACKEND_FEATURES & ~handshake.features;
    if (missing) throw new VhostUserError(`the vhost-user back-end lacks virtio features 0x${missing.toString(16)} mvm offers the guest`);
    const encodedTag = Buffer.from(tag, 'utf8');
    if (encodedTag.length === 0 || encodedTag.length > FS_TAG_BYTES) throw new RangeError(`virtio-fs tag "${tag}" is not 1..${FS_TAG_BYTES} bytes`);
    this.config.set(encodedTag, 0);
    new DataView(this.config.buffer).setUint32(FS_TAG_BYTES, REQUEST_QUEUES, true);
    // The back-end never speaks unasked; a hang-up or a stray message is noticed here, between requests.
    this.watch = watchReadable(
      backend.fd,
      () => this.backendStirred(),
      () => this.backendStirred(),
    );
  }

  bindEventFds(fds: ExternalEventFds): void {
    this.eventFds = fds;
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // The configuration is read-only (5.11.4); a driver write changes nothing.
  }

  activate(context: DeviceContext): void {
    this.context = context;
    try {
      this.startBackend(context);
    } catch (err) {
      this.stopWatching();
      context.needsReset(err instanceof Error ? err.message : String(err));
    }
  }

  queueNotify(index: number): void {
    // Kicks go to the back-end through the ioeventfd and never reach here; a
    // notification that did (a value no ioeventfd matched) has nothing to do.
    this.context?.errors.warn(`notification for queue ${index} reached the VMM; the back-end serves the queues`);
  }

  reset(): void {
    this.context = undefined;
    const queues = this.started.splice(0);
    if (this.backend.failure) return;
    try {
      // GET_VRING_BASE stops a ring (vhost-user: "Stop the ring"); the answer is not needed after a reset.
      for (const index of queues) this.backend.getVringBase(encodeVringState(Request.GET_VRING_BASE, index, 0), index);
    } catch (err) {
      this.stopWatching();
      this.warn(`${this.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Ends the connection (the VM is stopping). */
  close(): void {
    this.closed = true;
    this.stopWatching();
    this.backend.close();
  }

  private startBackend(context: DeviceContext): void {
    const fds = this.eventFds;
    if (!fds) throw new VhostUserError(`${this.name} was started without its kick and call eventfds`);
    const ack = this.backend.replyAck;
    // The driver's features, limited to what the back-end offered, plus the protocol-features bit when that was negotiated.
    const protocol = this.handshake.features & F_PROTOCOL_FEATURES;
    this.backend.request(encodeU64(Request.SET_FEATURES, (context.features & this.handshake.features) | protocol, ack));
    const regions = sharedRegions(context.memory.regionList);
    this.backend.request(encodeMemTable(regions, ack));
    context.queues.forEach((q, index) => {
      if (!q.ready) return;
      this.backend.request(encodeVringState(Request.SET_VRING_NUM, index, q.size, ack));
      this.backend.request(encodeVringAddr({ index, ...ringAddresses(q, regions) }, ack));
      this.backend.request(encodeVringState(Request.SET_VRING_BASE, index, 0, ack));
      this.started.push(index);
      this.backend.request(encodeVringFd(Request.SET_VRING_KICK, index, fds.kicks[index]!, ack));
      this.backend.request(encodeVringFd(Request.SET_VRING_CALL, index, fds.call, ack));
      // With protocol features negotiated, rings start disabled until enabled.
      if (protocol) this.backend.request(encodeVringState(Request.SET_VRING_ENABLE, index, 1, ack));
    });
  }

  /** The back-end's process ended (its parent is told; the socket may outlive it in a forked helper). */
  backendExited(how: string): void {
    this.backend.markFailed(how);
    this.backendStirred();
  }

  private backendStirred(): void {
    if (this.closed || !this.watch) return; // stopping, or already reported
    const why = this.backend.checkIdle();
    if (!why) return;
    this.stopWatching();
    const context = this.context;
    this.context = undefined;
    this.started = [];
    if (context) context.needsReset(why);
    else this.warn(`${this.name}: ${why}`);
  }

  private stopWatching(): void {
    this.watch?.close();
    this.watch = undefined;
  }
}

/** The shared regions of guest RAM, as SET_MEM_TABLE describes them. */
function sharedRegions(list: readonly MemoryRegion[]): MemoryTableRegion[] {
  if (list.length > MAX_MEMORY_REGIONS)
    throw new VhostUserError(`guest RAM has ${list.length} regions; vhost-user takes at most ${MAX_MEMORY_REGIONS}`);
  return list.map((r) => {
    if (!r.file) throw new VhostUserError('guest RAM is not shared memory, so a vhost-user back-end cannot reach it');
    return {
      guestAddress: BigInt(r.guestAddress),
      size: BigInt(r.bytes.length),
      userAddress: r.file.hostAddress,
      fileOffset: BigInt(r.file.offset),
      fd: r.file.fd,
    };
  });
}

/** Ring parts of one queue as front-end addresses; each part must lie inside one shared region. */
function ringAddresses(q: Virtqueue, regions: readonly MemoryTableRegion[]): { desc: bigint; avail: bigint; used: bigint } {
  const n = q.size;
  return {
    desc: toUserAddress(regions, q.descTable, n * 16, 'descriptor table'),
    avail: toUserAddress(regions, q.availRing, 6 + n * 2, 'available ring'),
    used: toUserAddress(regions, q.usedRing, 6 + n * 8, 'used ring'),
  };
}

function toUserAddress(regions: readonly MemoryTableRegion[], guestAddress: number, length: number, what: string): bigint {
  const start = BigInt(guestAddress);
  const end = start + BigInt(length);
  for (const r of regions) {
    if (start >= r.guestAddress && end <= r.guestAddress + r.size) return r.userAddress + (start - r.guestAddress);
  }
  throw new VhostUserError(`${what} at 0x${guestAddress.toString(16)}+${length} is not inside guest RAM`);
}
