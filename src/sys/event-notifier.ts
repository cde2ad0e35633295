// An eventfd(2) the main thread can signal and watch: the host end of
// KVM's ioeventfd (a guest's queue notification that never leaves the
// kernel) and irqfd (an interrupt injected by a plain write). Watching uses
// koffi's libuv poll, so callbacks run on the event loop like any other I/O.
import koffi from 'koffi';
import { closeSync, readSync, writeSync } from 'node:fs';
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd } from './libc.js';

/** An eventfd counter is a u64 read or written in one 8-byte access. */
const COUNTER_BYTES = 8;

export class EventNotifier {
  private poller: FdWatch | undefined;
  private readonly one = new BigUint64Array([1n]);
  private readonly scratch = new Uint8Array(COUNTER_BYTES);

  private constructor(readonly fd: number) {}

  static create(): EventNotifier {
    return new EventNotifier(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }

  /** Adds one to the counter: wakes a watcher, or (as an irqfd) raises the interrupt. */
  signal(): void {
    writeSync(this.fd, new Uint8Array(this.one.buffer));
  }

  /** Resets the counter; true when it had been signalled. */
  drain(): boolean {
    try {
      return readSync(this.fd, this.scratch, 0, COUNTER_BYTES, null) === COUNTER_BYTES;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      throw err;
    }
  }

  /** Calls `callback` on the event loop each time the counter becomes non-zero. */
  watch(callback: () => void): void {
    this.poller = watchReadable(this.fd, () => {
      if (this.drain()) callback();
    });
  }

  close(): void {
    this.poller?.close();
    this.poller = undefined;
    closeSync(this.fd);
  }
}

export interface FdWatch {
  close(): void;
}

/**
 * Calls `callback` on the event loop whenever `fd` is readable. The watch does
 * not keep the process alive. `onError`, if given, is called when libuv
 * reports an error on the descriptor instead (a socket whose peer died can
 * report EPOLLERR alone, which libuv passes on as a status, not as readiness).
 */
export function watchReadable(fd: number, callback: () => void, onError?: () => void): FdWatch {
  // koffi 3.3 calls back with (status, events), not as its typings say; a non-zero status
  // (an error on the descriptor, or the loop closing the handle) carries no readiness.
  const onReady = ((status: number, events?: { readable: boolean }) => {
    if (status === 0 && events?.readable) callback();
    else if (status !== 0) onError?.();
  }) as unknown as (events: { readable: boolean; writable: boolean; disconnect: boolean }) => void;
  const handle = koffi.node.poll(fd, { readable: true }, onReady);
  handle.unref();
  return { close: () => handle.close() };
}
