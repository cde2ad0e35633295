// virtio-vsock (VIRTIO 1.2, 5.10): stream sockets between the guest and host
// programs. Queue 0 (rx) carries packets to the guest, queue 1 (tx) packets
// from it, queue 2 (event) only transport-reset events, which this device
// sends once after a restore from a snapshot. The host side is a VsockBackend (unix sockets in the
// VMM). A malformed packet is a counted warning and an RST to its sender;
// nothing the guest writes makes the device throw.
import { DeviceId } from '../../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../../virtio/device.js';
import { drainQueue, nextReceiveChain } from '../../../virtio/drain.js';
import type { DescriptorChain } from '../../../virtio/chain.js';
import { gather, scatter } from '../../../virtio/segments.js';
import { Connection, HOST_BUF_ALLOC, connectionKey } from './connection.js';
import type { HostStream, VsockBackend } from './host-stream.js';
import {
  HEADER_SIZE,
  HOST_CID,
  MAX_PAYLOAD,
  MAX_GUEST_CID,
  MIN_GUEST_CID,
  Op,
  SHUTDOWN_RCV,
  SHUTDOWN_SEND,
  TYPE_STREAM,
  decodeHeader,
  encodeHeader,
  headerProblem,
  type Header,
} from './packet.js';

const RX_QUEUE = 0;
const TX_QUEUE = 1;
const EVENT_QUEUE = 2;
export const VSOCK_QUEUE_SIZE = 256;
/** struct virtio_vsock_event: le32 id (5.10.6.7); VIRTIO_VSOCK_EVENT_TRANSPORT_RESET is 0. */
const EVENT_BYTES = 4;
const EVENT_TRANSPORT_RESET = 0;
/** Config space: le64 guest_cid (5.10.4). */
const CONFIG_SIZE = 8;
/** Open connections at most; more REQUESTs get an RST, so a guest cannot exhaust host sockets. */
export const MAX_CONNECTIONS = 1024;
/** Control packets (RST, RESPONSE, credit…) waiting for rx buffers; beyond this the oldest are dropped. */
export const MAX_PENDING_CONTROL = 4096;
/**
 * How long a host program's CONNECT waits for the guest to accept (Firecracker
 * also gives up after a couple of seconds): a guest with no listener on the
 * port may never answer at all.
 */
export const DEFAULT_ACCEPT_TIMEOUT_MS = 2000;
/** Host ports for host-initiated connections start here (Firecracker uses 2^30 alike), clear of well-known ports. */
const FIRST_EPHEMERAL_PORT = 0x4000_0000;

/** A packet without payload waiting for the rx queue; fwd_cnt is filled in when it is sent. */
interface ControlPacket {
  op: number;
  flags: number;
  hostPort: number;
  guestPort: number;
}

export interface VsockStats {
  connectionsOpened: number;
  resetsSent: number;
  bytesToGuest: number;
  bytesFromGuest: number;
  controlDropped: number;
}

export class VirtioVsock implements VirtioDevice {
  readonly deviceType = DeviceId.VSOCK;
  readonly name: string;
  /** No feature bits: stream sockets only (5.10.3). */
  readonly features = 0n;
  readonly queueMaxSizes = [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE];
  readonly configSize = CONFIG_SIZE;
  readonly stats: VsockStats = { connectionsOpened: 0, resetsSent: 0, bytesToGuest: 0, bytesFromGuest: 0, controlDropped: 0 };
  readonly guestCid: bigint;
  private context: DeviceContext | undefined;
  private readonly connections = new Map<string, Connection>();
  private readonly control: ControlPacket[] = [];
  private nextHostPort = FIRST_EPHEMERAL_PORT;

  constructor(
    guestCid: number,
    private readonly backend: VsockBackend,
    private readonly acceptTimeoutMs = DEFAULT_ACCEPT_TIMEOUT_MS,
  ) {
    if (!Number.isInteger(guestCid) || guestCid < MIN_GUEST_CID || guestCid > MAX_GUEST_CID)
      throw new RangeError(`guest CID ${guestCid} is not in ${MIN_GUEST_CID}..${MAX_GUEST_CID}`);
    this.guestCid = BigInt(guestCid);
    this.name = `virtio-vsock (cid ${guestCid})`;
    backend.onIncoming((port, stream, accepted) => this.hostConnect(port, stream, accepted));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  readConfig(offset: number, data: Uint8Array): void {
    const config = new Uint8Array(CONFIG_SIZE);
    new DataView(config.buffer).setBigUint64(0, this.guestCid, true);
    data.set(config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // guest_cid is read-only.
  }

  activate(context: DeviceContext): void {
    this.context = context;
  }

  /** A reset drops every connection, as the guest's sockets are gone too. */
  reset(): void {
    this.context = undefined;
    for (const conn of this.connections.values()) this.close(conn);
    this.control.length = 0;
  }

  queueNotify(index: number): void {
    if (index === TX_QUEUE) this.transmit();
    else if (index === RX_QUEUE) this.deliver();
    // EVENT_QUEUE: buffers the driver posts for events; they stay until needed.
    else if (index !== EVENT_QUEUE) return;
  }

  /**
   * Tells the driver its transport was reset (5.10.6.7): it drops every
   * connection and reads guest_cid again. Sent after a restore from a
   * snapshot, where the host side of the guest's connections is gone and a
   * clone may have another CID. False when the driver is not running or has
   * posted no event buffer (then it has no connections to drop either).
   */
  transportReset(): boolean {
    const ctx = this.context;
    const queue = ctx?.queues[EVENT_QUEUE];
    if (!ctx || !queue?.ready) return false;
    const chain = nextReceiveChain(ctx, queue, { what: 'event' });
    if (typeof chain === 'string') return false;
    const event = new Uint8Array(EVENT_BYTES);
    new DataView(event.buffer).setUint32(0, EVENT_TRANSPORT_RESET, true);
    if (chain.writableLength < EVENT_BYTES) {
      ctx.errors.warn(`event buffer ${chain.head} holds ${chain.writableLength} bytes, fewer than an event's ${EVENT_BYTES}`);
      queue.pushUsed(chain.head, 0);
      ctx.usedBuffersAdded(queue);
      return false;
    }
    scatter(ctx.memory, chain.writable, 0, event);
    queue.pushUsed(chain.head, EVENT_BYTES);
    ctx.usedBuffersAdded(queue);
    return true;
  }

  /** A host program connected to the VM's socket and asked for guest port `port`. */
  private hostConnect(port: number, stream: HostStream, accepted: (hostPort: number) => void): void {
    if (!this.context || this.connections.size >= MAX_CONNECTIONS) {
      stream.destroy();
      return;
    }
    const hostPort = this.allocateHostPort(port);
    const conn = new Connection(port, hostPort, stream, 'awaiting-guest');
    conn.accepted = accepted;
    this.open(conn);
    conn.acceptTimer = setTimeout(() => {
      if (conn.state === 'awaiting-guest') this.reset_(conn);
    }, this.acceptTimeoutMs);
    // A pending CONNECT must not keep the VMM process alive by itself.
    conn.acceptTimer.unref();
    this.queueControl({ op: Op.REQUEST, flags: 0, hostPort, guestPort: port });
  }

  private allocateHostPort(guestPort: number): number {
    for (;;) {
      const port = this.nextHostPort;
      this.nextHostPort = this.nextHostPort >= 0xffff_fffe ? FIRST_EPHEMERAL_PORT : this.nextHostPort + 1;
      if (!this.connections.has(connectionKey(guestPort, port))) return port;
    }
  }

  private open(conn: Connection): void {
    this.connections.set(conn.key, conn);
    this.stats.connectionsOpened++;
    conn.stream.attach({
      connected: () => {
        if (conn.state !== 'connecting') return;
        conn.state = 'established';
        this.queueControl({ op: Op.RESPONSE, flags: 0, hostPort: conn.hostPort, guestPort: conn.guestPort });
      },
      data: (chunk) => {
        if (conn.state === 'closed') return;
        conn.fromHost(chunk);
        this.deliver();
      },
      ended: () => {
        if (conn.state === 'closed') return;
        conn.hostEnded = true;
        this.deliver();
      },
      closed: () => {
        if (conn.state === 'closed') return;
        this.reset_(conn);
      },
    });
  }

  /** Ends a connection from the host side: RST to the guest. */
  private reset_(conn: Connection): void {
    this.close(conn);
    this.sendRst(conn.hostPort, conn.guestPort);
  }

  private close(conn: Connection): void {
    clearTimeout(conn.acceptTimer);
    conn.state = 'closed';
    conn.dropPending();
    this.connections.delete(conn.key);
    conn.stream.destroy();
  }

  private sendRst(hostPort: number, guestPort: number): void {
    this.stats.resetsSent++;
    this.queueControl({ op: Op.RST, flags: 0, hostPort, guestPort });
  }

  private queueControl(packet: ControlPacket): void {
    if (this.control.length >= MAX_PENDING_CONTROL) {
      this.control.shift();
      this.stats.controlDropped++;
    }
    this.control.push(packet);
    this.deliver();
  }

  private transmit(): void {
    const ctx = this.context;
    const queue = ctx?.queues[TX_QUEUE];
    if (!ctx || !queue) return;
    const intact = drainQueue(ctx, queue, { what: 'transmit' }, (chain) => {
      this.handleGuestPacket(ctx, chain);
      queue.pushUsed(chain.head, 0);
    });
    if (intact) this.deliver();
  }

  private handleGuestPacket(ctx: DeviceContext, chain: DescriptorChain): void {
    if (chain.readableLength < HEADER_SIZE) {
      ctx.errors.warn(`transmit chain ${chain.head} has ${chain.readableLength} readable bytes, less than a ${HEADER_SIZE}-byte header`);
      return;
    }
    const header = decodeHeader(gather(ctx.memory, chain.readable, 0, HEADER_SIZE));
    const problem = headerProblem(header, this.guestCid, chain.readableLength - HEADER_SIZE);
    if (problem) {
      ctx.errors.warn(`bad packet from port ${header.srcPort} to ${header.dstPort}: ${problem}`);
      if (header.op !== Op.RST) this.sendRst(header.dstPort, header.srcPort);
      return;
    }
    const conn = this.connections.get(connectionKey(header.srcPort, header.dstPort));
    if (header.op === Op.REQUEST) {
      this.guestConnect(ctx, header, conn);
      return;
    }
    if (!conn) {
      // No such connection (it may have just been reset): answer anything but an RST with an RST (5.10.6.4).
      if (header.op !== Op.RST) this.sendRst(header.dstPort, header.srcPort);
      return;
    }
    conn.updatePeer(header.bufAlloc, header.fwdCnt);
    switch (header.op) {
      case Op.RESPONSE:
        if (conn.state !== 'awaiting-guest') {
          this.violation(ctx, conn, 'RESPONSE on a connection that was not requested by the host');
          return;
        }
        conn.state = 'established';
        clearTimeout(conn.acceptTimer);
        conn.accepted?.(conn.hostPort);
        break;
      case Op.RW: {
        if (conn.state !== 'established') {
          this.violation(ctx, conn, 'data before the connection was established');
          return;
        }
        const data = gather(ctx.memory, chain.readable, HEADER_SIZE, header.len);
        if (!conn.fromGuest(data, () => this.flushed(conn))) {
          this.violation(ctx, conn, `${header.len} bytes beyond the ${HOST_BUF_ALLOC}-byte credit the host gave`);
          return;
        }
        this.stats.bytesFromGuest += data.length;
        break;
      }
      case Op.CREDIT_REQUEST:
        conn.creditRequested = true;
        this.flushed(conn);
        break;
      case Op.CREDIT_UPDATE:
        // The peer fields were updated above; held data may now go.
        break;
      case Op.SHUTDOWN:
        if (header.flags & SHUTDOWN_SEND) conn.stream.endWrite();
        if ((header.flags & (SHUTDOWN_RCV | SHUTDOWN_SEND)) === (SHUTDOWN_RCV | SHUTDOWN_SEND)) this.reset_(conn);
        break;
      case Op.RST:
        this.close(conn);
        break;
    }
  }

  private guestConnect(ctx: DeviceContext, header: Header, existing: Connection | undefined): void {
    if (existing) {
      this.violation(ctx, existing, 'REQUEST on a connection that already exists');
      return;
    }
    if (this.connections.size >= MAX_CONNECTIONS) {
      ctx.errors.warn(`connection request to host port ${header.dstPort} refused: ${MAX_CONNECTIONS} connections are open`);
      this.sendRst(header.dstPort, header.srcPort);
      return;
    }
    const conn = new Connection(header.srcPort, header.dstPort, this.backend.connect(header.dstPort), 'connecting');
    conn.updatePeer(header.bufAlloc, header.fwdCnt);
    this.open(conn);
  }

  private violation(ctx: DeviceContext, conn: Connection, what: string): void {
    ctx.errors.warn(`connection ${conn.guestPort}->${conn.hostPort}: ${what}; resetting it`);
    this.reset_(conn);
  }

  /** The host program took bytes: tell the guest about the space once enough is freed. */
  private flushed(conn: Connection): void {
    if (conn.state === 'closed' || !conn.wantsCreditUpdate()) return;
    conn.creditRequested = false;
    this.queueControl({ op: Op.CREDIT_UPDATE, flags: 0, hostPort: conn.hostPort, guestPort: conn.guestPort });
  }

  /** Fills the guest's rx buffers: control packets first, then data the guest has credit for. */
  private deliver(): void {
    const ctx = this.context;
    const queue = ctx?.queues[RX_QUEUE];
    if (!ctx || !queue?.ready) return;
    let added = false;
    for (;;) {
      const work = this.nextRxWork();
      if (!work) break;
      const chain = nextReceiveChain(ctx, queue, { what: 'receive' });
      if (chain === 'broken') return;
      if (chain === 'none') break;
      if (chain.writableLength < HEADER_SIZE) {
        ctx.errors.warn(`receive chain ${chain.head} has ${chain.writableLength} writable bytes, less than a ${HEADER_SIZE}-byte header`);
        queue.pushUsed(chain.head, 0);
        added = true;
        continue;
      }
      const written = this.fillRx(ctx, chain, work);
      queue.pushUsed(chain.head, written);
      added = true;
    }
    if (added) ctx.usedBuffersAdded(queue);
  }

  private nextRxWork(): ControlPacket | Connection | undefined {
    if (this.control.length > 0) return this.control[0];
    for (const conn of this.connections.values()) {
      if (conn.state !== 'established') continue;
      if (conn.hasDataForGuest()) return conn;
      if (conn.hostEnded && conn.pendingLength === 0) return conn;
    }
    return undefined;
  }

  /** Writes one packet for `work` into the chain; returns the bytes written. */
  private fillRx(ctx: DeviceContext, chain: DescriptorChain, work: ControlPacket | Connection): number {
    let header: Header;
    let payload: Uint8Array = new Uint8Array(0);
    if (!(work instanceof Connection)) {
      this.control.shift();
      const conn = this.connections.get(connectionKey(work.guestPort, work.hostPort));
      header = this.hostHeader(work.op, work.flags, work.hostPort, work.guestPort, conn);
    } else if (work.pendingLength === 0) {
      // The host program ended its write side and everything it sent is delivered. It may still
      // read (a half-close, as `socat` does after its input), so only SEND is announced; its
      // socket closing later resets the connection.
      work.hostEnded = false;
      header = this.hostHeader(Op.SHUTDOWN, SHUTDOWN_SEND, work.hostPort, work.guestPort, work);
    } else {
      payload = work.takeForGuest(Math.min(chain.writableLength - HEADER_SIZE, MAX_PAYLOAD));
      header = this.hostHeader(Op.RW, 0, work.hostPort, work.guestPort, work);
      header.len = payload.length;
      this.stats.bytesToGuest += payload.length;
    }
    scatter(ctx.memory, chain.writable, 0, encodeHeader(header));
    scatter(ctx.memory, chain.writable, HEADER_SIZE, payload);
    return HEADER_SIZE + payload.length;
  }

  private hostHeader(op: number, flags: number, hostPort: number, guestPort: number, conn: Connection | undefined): Header {
    if (conn) conn.advertisedFwd = conn.fwdCnt;
    return {
      srcCid: BigInt(HOST_CID),
      dstCid: this.guestCid,
      srcPort: hostPort,
      dstPort: guestPort,
      len: 0,
      type: TYPE_STREAM,
      op,
      flags,
      bufAlloc: HOST_BUF_ALLOC,
      fwdCnt: conn?.fwdCnt ?? 0,
    };
  }
}
