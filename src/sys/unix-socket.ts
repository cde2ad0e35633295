// A unix stream socket with blocking calls that can carry file descriptors
// (SCM_RIGHTS), which Node's net module cannot: vhost-user hands a back-end
// eventfds and the memfds behind guest RAM this way. Send and receive wait at
// most the socket's timeout (poll(2) before each call, so this holds even when
// something, such as libuv watching the same descriptor, has made it
// non-blocking), so a peer that never answers costs a bounded wait, never a
// hung caller; sends use MSG_NOSIGNAL, so a peer that died is an EPIPE, not a
// SIGPIPE that would end the process.
//
// All native memory one socket uses (the msghdr, its iovec, the control
// buffer and the data buffer) is one block allocated once with koffi.alloc;
// the kernel reads and writes it through the addresses written into the
// msghdr, and JavaScript through a view of the same block.
import koffi from 'koffi';
import { SyscallError } from './syscall-error.js';

const libc = koffi.load('libc.so.6');
const socketRaw = libc.func('int socket(int domain, int type, int protocol)');
const socketpairRaw = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const connectRaw = libc.func('int connect(int fd, const void *addr, uint32_t len)');
const setsockoptRaw = libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
const sendmsgRaw = libc.func('intptr_t sendmsg(int fd, void *msg, int flags)');
const recvmsgRaw = libc.func('intptr_t recvmsg(int fd, void *msg, int flags)');
const closeRaw = libc.func('int close(int fd)');
const pollRaw = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
/** Received descriptors are close-on-exec, so a virtiofsd we spawn later never inherits one. */
const MSG_CMSG_CLOEXEC = 0x40000000;
/** msg_flags: the control data did not fit (descriptors were dropped by the kernel). */
const MSG_CTRUNC = 0x8;
const EINTR = 4;
const EAGAIN = 11;
const MSG_PEEK = 0x2;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const POLLOUT = 0x4;

/** sockaddr_un: sa_family (u16) then sun_path[108]. */
const SUN_PATH_BYTES = 108;
const SOCKADDR_UN_BYTES = 2 + SUN_PATH_BYTES;

/** struct msghdr on x86_64 (56 bytes): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48. */
const MSGHDR_BYTES = 56;
const IOVEC_BYTES = 16;
/** struct cmsghdr: cmsg_len (size_t) 0, level (int) 8, type (int) 12; data at 16. */
const CMSGHDR_BYTES = 16;
/** Most descriptors one message carries (vhost-user's SET_MEM_TABLE sends at most 8). */
export const MAX_FDS_PER_MESSAGE = 8;
const CONTROL_BYTES = CMSGHDR_BYTES + MAX_FDS_PER_MESSAGE * 4;
const HEADER_BYTES = MSGHDR_BYTES + IOVEC_BYTES + CONTROL_BYTES;

export interface Received {
  /** Bytes received; 0 means the peer closed the connection. */
  readonly length: number;
  /** Descriptors that came with the bytes; the caller owns (and must close) them. */
  readonly fds: number[];
}

export class UnixSocket {
  private readonly block: unknown;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly base: bigint;
  private closed = false;

  private constructor(
    readonly fd: number,
    /** Largest message (or part of one) sent or received in one call. */
    readonly capacity: number,
    /** How long one send or receive may wait. */
    private readonly timeoutMs: number,
  ) {
    this.block = koffi.alloc('uint8_t', HEADER_BYTES + capacity);
    const buffer = koffi.view(this.block, HEADER_BYTES + capacity);
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
    this.base = BigInt(koffi.address(this.block));
  }

  /** Connects to the listening socket at `path`; sends and receives then wait at most `timeoutMs`. */
  static connect(path: string, timeoutMs: number, capacity = 4096): UnixSocket {
    const encoded = Buffer.from(path, 'utf8');
    if (encoded.length >= SUN_PATH_BYTES)
      throw new RangeError(`unix socket path is ${encoded.length} bytes, longer than ${SUN_PATH_BYTES - 1}: ${path}`);
    const fd = socketRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) throw new SyscallError('socket(AF_UNIX)', koffi.errno());
    const address = new Uint8Array(SOCKADDR_UN_BYTES);
    new DataView(address.buffer).setUint16(0, AF_UNIX, true);
    address.set(encoded, 2);
    try {
      setTimeouts(fd, timeoutMs);
      if ((connectRaw(fd, address, SOCKADDR_UN_BYTES) as number) < 0) throw new SyscallError(`connect ${path}`, koffi.errno());
    } catch (err) {
      closeRaw(fd);
      throw err;
    }
    return new UnixSocket(fd, capacity, timeoutMs);
  }

  /** Two connected sockets (for specs: a fake peer on the other end). */
  static pair(timeoutMs: number, capacity = 4096): [UnixSocket, UnixSocket] {
    const fds = [0, 0];
    if ((socketpairRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) as number) < 0) throw new SyscallError('socketpair', koffi.errno());
    setTimeouts(fds[0]!, timeoutMs);
    setTimeouts(fds[1]!, timeoutMs);
    return [new UnixSocket(fds[0]!, capacity, timeoutMs), new UnixSocket(fds[1]!, capacity, timeoutMs)];
  }

  /** Sends all of `data` (at most `capacity` bytes) with `fds` attached to its first byte. */
  send(data: Uint8Array, fds: readonly number[] = []): void {
    this.checkOpen();
    if (data.length > this.capacity) throw new RangeError(`message of ${data.length} bytes exceeds the socket's ${this.capacity}-byte buffer`);
    if (fds.length > MAX_FDS_PER_MESSAGE) throw new RangeError(`${fds.length} descriptors in one message (at most ${MAX_FDS_PER_MESSAGE})`);
    this.bytes.set(data, HEADER_BYTES);
    let sent = 0;
    let attach = fds;
    const deadline = Date.now() + this.timeoutMs;
    while (sent < data.length) {
      this.waitFor(POLLOUT, deadline);
      this.prepare(HEADER_BYTES + sent, data.length - sent, attach.length);
      if (attach.length > 0) {
        const control = MSGHDR_BYTES + IOVEC_BYTES;
        this.view.setBigUint64(control, BigInt(CMSGHDR_BYTES + attach.length * 4), true);
        this.view.setInt32(control + 8, SOL_SOCKET, true);
        this.view.setInt32(control + 12, SCM_RIGHTS, true);
        for (let i = 0; i < attach.length; i++) this.view.setInt32(control + CMSGHDR_BYTES + i * 4, attach[i]!, true);
      }
      const n = Number(sendmsgRaw(this.fd, this.block, MSG_NOSIGNAL));
      if (n < 0) {
        const e = koffi.errno();
        if (e === EINTR || e === EAGAIN) continue;
        throw new SyscallError('sendmsg', e);
      }
      sent += n;
      attach = []; // descriptors travel once, with the first byte
    }
  }

  /**
   * Receives up to `length` bytes (one recvmsg; a stream may deliver less).
   * Returns the bytes in `into` at `offset`. Throws SyscallError (EAGAIN on
   * timeout); a short control buffer is an error too, with what did arrive closed.
   */
  receive(into: Uint8Array, offset: number, length: number): Received {
    this.checkOpen();
    if (length <= 0 || length > this.capacity || offset + length > into.length) throw new RangeError(`bad receive of ${length} bytes at ${offset}`);
    let n: number;
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      this.waitFor(POLLIN, deadline);
      this.prepare(HEADER_BYTES, length, MAX_FDS_PER_MESSAGE);
      n = Number(recvmsgRaw(this.fd, this.block, MSG_CMSG_CLOEXEC));
      if (n >= 0) break;
      const e = koffi.errno();
      if (e !== EINTR && e !== EAGAIN) throw new SyscallError('recvmsg', e);
    }
    const fds = this.receivedFds();
    const flags = this.view.getInt32(48, true);
    if (flags & MSG_CTRUNC) {
      for (const fd of fds) closeRaw(fd);
      throw new SyscallError('recvmsg (too many descriptors attached)', 0);
    }
    into.set(this.bytes.subarray(HEADER_BYTES, HEADER_BYTES + n), offset);
    return { length: n, fds };
  }

  /**
   * Without waiting: 'closed' when the peer has hung up, 'data' when bytes are
   * waiting (left in place), 'nothing' otherwise. For a watch on a connection
   * where the peer should be silent between requests.
   */
  poll(): 'closed' | 'data' | 'nothing' {
    this.checkOpen();
    this.prepare(HEADER_BYTES, 1, 0);
    const n = Number(recvmsgRaw(this.fd, this.block, MSG_PEEK | MSG_DONTWAIT));
    if (n > 0) return 'data';
    if (n === 0) return 'closed';
    const e = koffi.errno();
    return e === EAGAIN || e === EINTR ? 'nothing' : 'closed';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeRaw(this.fd);
    koffi.free(this.block);
  }

  /** Waits until the socket is ready for `events` (or has hung up); SyscallError EAGAIN once `deadline` has passed. */
  private waitFor(events: number, deadline: number): void {
    const pollfd = new Uint8Array(8); // struct pollfd: fd (int), events (short), revents (short)
    const view = new DataView(pollfd.buffer);
    view.setInt32(0, this.fd, true);
    view.setInt16(4, events, true);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new SyscallError(events === POLLIN ? 'recvmsg' : 'sendmsg', EAGAIN);
      const ready = pollRaw(pollfd, 1, left) as number;
      if (ready > 0) return; // readable, writable, or an error/hang-up the next call reports
      if (ready < 0 && koffi.errno() !== EINTR) throw new SyscallError('poll', koffi.errno());
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('unix socket used after close');
  }

  /** Fills the msghdr and iovec for `length` bytes at block offset `dataOffset`, with room for `fdCount` descriptors. */
  private prepare(dataOffset: number, length: number, fdCount: number): void {
    const v = this.view;
    const iov = MSGHDR_BYTES;
    const control = MSGHDR_BYTES + IOVEC_BYTES;
    v.setBigUint64(0, 0n, true); // msg_name
    v.setBigUint64(8, 0n, true); // msg_namelen + padding
    v.setBigUint64(16, this.base + BigInt(iov), true);
    v.setBigUint64(24, 1n, true);
    v.setBigUint64(32, fdCount > 0 ? this.base + BigInt(control) : 0n, true);
    v.setBigUint64(40, fdCount > 0 ? BigInt(cmsgSpace(fdCount)) : 0n, true);
    v.setInt32(48, 0, true);
    v.setBigUint64(iov, this.base + BigInt(dataOffset), true);
    v.setBigUint64(iov + 8, BigInt(length), true);
    this.bytes.fill(0, control, control + CONTROL_BYTES);
  }

  /** The SCM_RIGHTS descriptors in the control buffer after a recvmsg. */
  private receivedFds(): number[] {
    const v = this.view;
    const controlLength = Number(v.getBigUint64(40, true));
    const control = MSGHDR_BYTES + IOVEC_BYTES;
    const fds: number[] = [];
    let at = 0;
    // Walk every cmsghdr the kernel wrote; only SCM_RIGHTS carries descriptors.
    while (at + CMSGHDR_BYTES <= controlLength) {
      const length = Number(v.getBigUint64(control + at, true));
      if (length < CMSGHDR_BYTES || at + length > controlLength) break;
      if (v.getInt32(control + at + 8, true) === SOL_SOCKET && v.getInt32(control + at + 12, true) === SCM_RIGHTS) {
        for (let i = 0; CMSGHDR_BYTES + (i + 1) * 4 <= length; i++) fds.push(v.getInt32(control + at + CMSGHDR_BYTES + i * 4, true));
      }
      at += align8(length);
    }
    return fds;
  }
}

function cmsgSpace(fdCount: number): number {
  return align8(CMSGHDR_BYTES + fdCount * 4);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** struct timeval for SO_RCVTIMEO/SO_SNDTIMEO: seconds and microseconds, both 64-bit. */
function setTimeouts(fd: number, timeoutMs: number): void {
  const tv = new Uint8Array(16);
  const view = new DataView(tv.buffer);
  view.setBigInt64(0, BigInt(Math.floor(timeoutMs / 1000)), true);
  view.setBigInt64(8, BigInt((timeoutMs % 1000) * 1000), true);
  for (const option of [SO_RCVTIMEO, SO_SNDTIMEO]) {
    if ((setsockoptRaw(fd, SOL_SOCKET, option, tv, 16) as number) < 0) throw new SyscallError('setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)', koffi.errno());
  }
}
