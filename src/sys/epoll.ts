// epoll(7) through koffi, for threads that block on many file descriptors at
// once without an event loop: a device thread waits here on its queues'
// ioeventfds and its control eventfd. Each registered fd carries a caller's
// token (a u32) that comes back with its readiness.
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { close as closeFd } from './libc.js';
import { SyscallError } from './syscall-error.js';

const libc = koffi.load('libc.so.6');
const epollCreate1 = libc.func('int epoll_create1(int flags)');
const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)');
const epollWait = libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)');

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x001;
/** struct epoll_event is packed on x86_64: events u32 at 0, data u64 at 4. */
const EVENT_BYTES = 12;

export class Epoll {
  private readonly events: Uint8Array;
  private readonly view: DataView;
  private readonly one = new Uint8Array(EVENT_BYTES);

  private constructor(
    readonly fd: number,
    private readonly capacity: number,
  ) {
    this.events = new Uint8Array(capacity * EVENT_BYTES);
    this.view = new DataView(this.events.buffer);
  }

  static create(capacity = 64): Epoll {
    const fd = epollCreate1(EPOLL_CLOEXEC) as number;
    if (fd < 0) throw new SyscallError('epoll_create1', koffi.errno());
    return new Epoll(fd, capacity);
  }

  /** Watches `fd` for readability; `token` comes back from wait(). */
  add(fd: number, token: number): void {
    const view = new DataView(this.one.buffer);
    view.setUint32(0, EPOLLIN, true);
    view.setBigUint64(4, BigInt(token >>> 0), true);
    if ((epollCtl(this.fd, EPOLL_CTL_ADD, fd, this.one) as number) < 0) throw new SyscallError(`epoll_ctl add fd ${fd}`, koffi.errno());
  }

  remove(fd: number): void {
    epollCtl(this.fd, EPOLL_CTL_DEL, fd, this.one);
  }

  /**
   * Blocks until at least one watched fd is ready (or `timeoutMs` passes; -1
   * waits for ever) and returns the tokens of the ready ones. A signal
   * (EINTR) returns an empty list.
   */
  wait(timeoutMs = -1): number[] {
    const n = epollWait(this.fd, this.events, this.capacity, timeoutMs) as number;
    if (n < 0) {
      const e = koffi.errno();
      if (e === osConstants.errno.EINTR) return [];
      throw new SyscallError('epoll_wait', e);
    }
    const tokens: number[] = [];
    for (let i = 0; i < n; i++) tokens.push(this.view.getUint32(i * EVENT_BYTES + 4, true));
    return tokens;
  }

  close(): void {
    // close(2) itself: Node warns when a worker closes an fd its fs module did not open.
    closeFd(this.fd);
  }
}
