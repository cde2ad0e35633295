// The guest agent a template snapshot waits in (mvm run --snapshot-after-boot):
// a few lines of the default guest's busybox sh, run as the boot's command,
// so the image gains nothing. It turns the console's echo off, prints a
// marker, and blocks reading one line from the console. The VMM takes the
// snapshot once the marker is out; every `mvm run --restore DIR -- CMD` then
// types one line into the restored console: the host's wall clock (the
// guest's clock is behind by the time the snapshot sat on disk) and the
// command, base64-encoded like mvm.cmd= (no quoting survives otherwise). The
// agent sets the clock and execs the command; the init's session powers the
// VM off with its exit status, as for a booted `mvm run -- CMD`.
import { shellQuote } from './default-cmdline.js';

/** The console line that says the agent is reading its command. */
export const AGENT_READY_MARKER = 'mvm-agent: waiting for a command';

/** Exit status when the line the agent read was not a command (125, as for mvm.cmd=). */
const BAD_REQUEST_STATUS = 125;

/** The agent: the command a template boots with. */
export const AGENT_SCRIPT = [
  'stty -echo',
  `echo '${AGENT_READY_MARKER}'`,
  'read -r now encoded',
  'date -s "@$now" >/dev/null 2>&1',
  `command=$(echo "$encoded" | base64 -d) || exit ${BAD_REQUEST_STATUS}`,
  'exec /bin/sh -c "$command"',
].join('; ');

/**
 * A canonical-mode console line holds at most 4095 bytes; a longer request
 * would be cut. Commands this long belong in a script on a disk.
 */
const MAX_REQUEST_BYTES = 4000;

/** The line typed into a restored agent's console: the host's time and the command. */
export function agentRequest(argv: readonly string[], nowMs: number): Uint8Array | string {
  const encoded = Buffer.from(argv.map(shellQuote).join(' '), 'utf8').toString('base64');
  const line = `${Math.round(nowMs / 1000)} ${encoded}\n`;
  if (line.length > MAX_REQUEST_BYTES)
    return `the command is ${line.length} bytes encoded, more than the ${MAX_REQUEST_BYTES} a console line carries`;
  return Buffer.from(line, 'latin1');
}

/** Watches console output for the agent's marker, across chunk boundaries. */
export class AgentReadyWatcher {
  private tail = '';
  private seen = false;

  /** True once, for the chunk that completes the marker. */
  push(bytes: Uint8Array): boolean {
    if (this.seen) return false;
    this.tail = (this.tail + Buffer.from(bytes).toString('latin1')).slice(-(AGENT_READY_MARKER.length * 2 + 64));
    this.seen = this.tail.includes(AGENT_READY_MARKER);
    return this.seen;
  }
}
