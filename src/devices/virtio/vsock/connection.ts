// One vsock stream connection between a guest port and a host port, with the
// credit-based flow control of VIRTIO 1.2, 5.10.6.3. Counters are u32 and
// wrap, so every difference is taken modulo 2^32. The guest's advertised
// buf_alloc/fwd_cnt are hostile: the device never sends more than buf_alloc
// minus what the guest has not yet confirmed, and a fwd_cnt "ahead" of what
// was sent yields zero credit rather than more.
import type { HostStream } from './host-stream.js';

/** Bytes the host side accepts from the guest before it must wait for the host program (our buf_alloc). */
export const HOST_BUF_ALLOC = 256 * 1024;
/** Bytes from the host program buffered for the guest before the host stream is paused. */
export const HOST_PENDING_HIGH = 256 * 1024;
/** Below this the paused host stream resumes. */
const HOST_PENDING_LOW = 64 * 1024;

export type ConnectionState =
  /** The guest asked; the host program's socket is still connecting. */
  | 'connecting'
  /** A host program asked; the device sent REQUEST and waits for the guest's RESPONSE. */
  | 'awaiting-guest'
  | 'established'
  | 'closed';

const u32 = (n: number) => n >>> 0;

export class Connection {
  state: ConnectionState;
  /** What the guest last said about its receive buffer. */
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** Payload bytes sent to the guest. */
  txCnt = 0;
  /** Payload bytes received from the guest, and how many of them the host program took. */
  rxCnt = 0;
  fwdCnt = 0;
  /** fwd_cnt as last told to the guest. */
  advertisedFwd = 0;
  /** The guest asked for our credit (CREDIT_REQUEST). */
  creditRequested = false;
  /** The host program's write side ended: SHUTDOWN goes to the guest once the pending bytes are out. */
  hostEnded = false;
  /** Host-initiated: tells the host program the guest accepted. */
  accepted: ((hostPort: number) => void) | undefined;
  /** Host-initiated: gives up on a guest that never answers the REQUEST. */
  acceptTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private paused = false;

  constructor(
    readonly guestPort: number,
    readonly hostPort: number,
    readonly stream: HostStream,
    state: ConnectionState,
  ) {
    this.state = state;
  }

  get key(): string {
    return connectionKey(this.guestPort, this.hostPort);
  }

  updatePeer(bufAlloc: number, fwdCnt: number): void {
    this.peerBufAlloc = bufAlloc;
    this.peerFwdCnt = fwdCnt;
  }

  /** Bytes the guest can take now. */
  peerCredit(): number {
    const inFlight = u32(this.txCnt - this.peerFwdCnt);
    return inFlight >= this.peerBufAlloc ? 0 : this.peerBufAlloc - inFlight;
  }

  /**
   * Payload from the guest for the host program. False when the guest sent
   * more than our advertised buffer allows (a protocol violation).
   */
  fromGuest(data: Uint8Array, onFlushed: () => void): boolean {
    const unflushed = u32(this.rxCnt - this.fwdCnt);
    if (unflushed + data.length > HOST_BUF_ALLOC) return false;
    this.rxCnt = u32(this.rxCnt + data.length);
    this.stream.write(data, () => {
      this.fwdCnt = u32(this.fwdCnt + data.length);
      onFlushed();
    });
    return true;
  }

  /** Whether the guest should be told about freed buffer space now (half the buffer freed, or it asked). */
  wantsCreditUpdate(): boolean {
    return this.creditRequested || u32(this.fwdCnt - this.advertisedFwd) >= HOST_BUF_ALLOC / 2;
  }

  /** Bytes from the host program, held until the guest has credit and rx buffers. */
  fromHost(chunk: Uint8Array): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes > HOST_PENDING_HIGH && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  }

  hasDataForGuest(): boolean {
    return this.pendingBytes > 0 && this.peerCredit() > 0;
  }

  get pendingLength(): number {
    return this.pendingBytes;
  }

  /** Takes up to `room` bytes the guest has credit for (counted as sent). */
  takeForGuest(room: number): Uint8Array {
    const n = Math.min(room, this.peerCredit(), this.pendingBytes);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.pending[0]!;
      const take = Math.min(head.length, n - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= n;
    this.txCnt = u32(this.txCnt + n);
    if (this.paused && this.pendingBytes < HOST_PENDING_LOW) {
      this.paused = false;
      this.stream.resume();
    }
    return out;
  }

  dropPending(): void {
    this.pending.length = 0;
    this.pendingBytes = 0;
  }
}

export function connectionKey(guestPort: number, hostPort: number): string {
  return `${guestPort}:${hostPort}`;
}
