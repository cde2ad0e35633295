// `mvm logs [-f]`: copies a VM's console.log to stdout and, when following,
// keeps copying what the VMM appends until the VM is over. Polls the file
// rather than using fs.watch: inotify sees nothing on the helper VM's 9p
// shares, where the VMM writes when it runs in the helper.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { isFinalShownState, shownState } from './liveness.js';
import type { VmEntry } from './registry.js';

/** How often a follower looks for new console output. */
export const FOLLOW_POLL_MS = 250;
/** Probing the VMM (maybe through the helper relay) costs more than a read: do it every few polls only. */
export const STATE_CHECK_EVERY_POLLS = 4;
const CHUNK_BYTES = 64 * 1024;

export interface LogSink {
  /** Writes everything; false when the reader has gone (stdout closed), which ends a follow. */
  write(bytes: Uint8Array): boolean;
}

/** stdout as a LogSink: synchronous, so nothing is lost when the process ends. */
export const STDOUT_SINK: LogSink = {
  write(bytes) {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(1, bytes, offset, bytes.length - offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        if (code === 'EPIPE') return false;
        throw err;
      }
    }
    return true;
  },
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Copies `path` from `offset` to its current end; returns the new offset, or null when the sink has gone. */
function copyNew(path: string, offset: number, sink: LogSink): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    // Not written yet (the VMM creates it when it starts).
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return offset;
    throw err;
  }
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, offset);
      if (n === 0) return offset;
      if (!sink.write(buffer.subarray(0, n))) return null;
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the log; with `follow`, waits for more until `isOver()` (by default:
 * the VM's shown state is exited, failed or dead), then copies the rest.
 */
export async function copyLog(path: string, sink: LogSink, follow: false | { readonly isOver: () => Promise<boolean> }): Promise<void> {
  let offset: number | null = copyNew(path, 0, sink);
  if (!follow) return;
  for (let poll = 1; offset !== null; poll++) {
    await sleep(FOLLOW_POLL_MS);
    offset = copyNew(path, offset, sink);
    if (offset !== null && poll % STATE_CHECK_EVERY_POLLS === 0 && (await follow.isOver())) {
      // The VMM writes its last output before its final state: one more read gets it all.
      copyNew(path, offset, sink);
      return;
    }
  }
}

/** isOver for copyLog: re-reads the VM's files each time. */
export function vmIsOver(reread: () => VmEntry): () => Promise<boolean> {
  return async () => isFinalShownState((await shownState(reread())).state);
}
