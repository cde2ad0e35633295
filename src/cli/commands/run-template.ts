// `mvm run --snapshot-after-boot DIR` and `mvm run --restore DIR -- CMD`: a
// template snapshot in one command, and a command run in a clone of it. The
// template boots the guest agent (src/vmm/guest-agent.ts) as its command and
// is snapshotted, then stopped, once the agent waits for its command; a
// restore with a command types the command line into the clone's console.
import { UserError } from '../../errors.js';
import { formatSize } from '../../units/size.js';
import { AGENT_SCRIPT, AgentReadyWatcher, agentRequest } from '../../vmm/guest-agent.js';
import { launchFromPlan } from '../../vmm/snapshot-launch.js';
import { takeSnapshot } from '../../vmm/take-snapshot.js';
import type { AssembledVm, VmPlan } from '../../vmm/vm-assembly.js';

/** The launch record's mark of a snapshot whose guest waits in the agent. */
const AGENT_FIELD = 'agent';

/** The command a template boots with; refuses what a template cannot be. */
export function templateCommand(command: readonly string[], options: { detach?: boolean; restore?: string }): string[] {
  if (command.length > 0) throw new UserError('--snapshot-after-boot boots the guest agent, which takes its command at restore: drop the command', 2);
  if (options.detach) throw new UserError('--snapshot-after-boot stops the VM once it is snapshotted: it cannot be used with -d', 2);
  if (options.restore !== undefined) throw new UserError('--snapshot-after-boot boots a new VM: it cannot be used with --restore', 2);
  return ['sh', '-c', AGENT_SCRIPT];
}

/** The console line for a restore with a command; refuses a snapshot without the agent, or a command too long. */
export function restoreRequest(launch: Readonly<Record<string, unknown>>, command: readonly string[], options: { detach?: boolean }): Uint8Array {
  if (launch[AGENT_FIELD] !== true)
    throw new UserError('this snapshot has no guest agent waiting for a command (make one with mvm run --snapshot-after-boot DIR)', 2);
  if (options.detach) throw new UserError('--restore with a command runs it in the foreground: it cannot be used with -d', 2);
  // The request is made again at resume, with the clock of that moment: this one checks its length.
  const request = agentRequest(command, Date.now());
  if (typeof request === 'string') throw new UserError(request, 2);
  return request;
}

/** Watches the template's console; once the agent waits, snapshots the VM into `dir` and reports through `done`. */
export function templateWatcher(
  dir: string,
  plan: VmPlan,
  vm: () => AssembledVm,
  done: (status: number, lines: string[]) => void,
): (bytes: Uint8Array) => void {
  const watcher = new AgentReadyWatcher();
  return (bytes) => {
    if (!watcher.push(bytes)) return;
    const assembled = vm();
    let launch: Record<string, unknown>;
    try {
      launch = { ...launchFromPlan(plan, assembled.drives), [AGENT_FIELD]: true };
    } catch (err) {
      done(1, [`cannot snapshot the VM: ${err instanceof Error ? err.message : String(err)}`]);
      return;
    }
    takeSnapshot(assembled.machine, dir, { resume: false, launch, drives: assembled.drives }).then(
      (taken) =>
        done(0, [
          `template snapshot written to ${dir}: ${formatSize(taken.memoryDataBytes)} of guest RAM (${formatSize(taken.memoryAllocatedBytes)} on disk), VM paused ${Math.round(taken.pausedToDurableMs)} ms, then stopped`,
        ]),
      (err: unknown) => done(1, [`cannot snapshot the VM: ${err instanceof Error ? err.message : String(err)}`]),
    );
  };
}

/**
 * Whether the agent reads the UART rather than the virtio console: it reads
 * the guest's /dev/console, which Linux makes the last console= on the
 * command line (a snapshot of `--boot-args console=ttyS0` has a virtio console
 * device nobody reads).
 */
export function agentReadsSerial(cmdline: string): boolean {
  const consoles = [...cmdline.matchAll(/(?:^|\s)console=([^\s,]+)/g)].map((m) => m[1]!);
  return (consoles.at(-1) ?? '').startsWith('ttyS');
}

/** The line typed into a restored agent's console, with the host's clock at resume. */
export function requestAtResume(command: readonly string[]): Uint8Array {
  const request = agentRequest(command, Date.now());
  return typeof request === 'string' ? new Uint8Array() : request;
}
