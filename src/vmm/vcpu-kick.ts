// Interrupting a vCPU thread's blocking KVM_RUN from the main thread: a
// signal sent to that one thread makes KVM_RUN return EINTR. The signal must
// have a handler in this process: with none it would end the process (its
// default action), and an ignored signal is dropped before it interrupts
// anything. Node's own handler (installed by listening for the signal) is
// enough and harmless: it only wakes the event loop, where nothing listens.
import { constants as osConstants } from 'node:os';
import { signalThread } from '../sys/libc.js';

/** SIGUSR1 would start Node's inspector; SIGUSR2 means nothing to Node or mvm. */
const KICK_SIGNAL = 'SIGUSR2';

let handlerInstalled = false;

/** Sends the kick signal to thread `tid` of this process; a thread that has already gone is ignored. */
export function kickThread(tid: number): void {
  if (!handlerInstalled) {
    process.on(KICK_SIGNAL, () => undefined);
    handlerInstalled = true;
  }
  signalThread(tid, osConstants.signals[KICK_SIGNAL]);
}
