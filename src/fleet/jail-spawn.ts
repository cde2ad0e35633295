// How a jailed VMM process is started: the entry point every spawn path calls
// (`mvm run -d` now; the OCI runtime's create later). The VMM runs under
//
//   sh -c 'unshare --mount --pid --ipc --uts [--net] --fork --kill-child -- node mvm __vmm NAME & wait;
//          echo $? > vms/NAME/vmm.exit; rm -f <uid claim>'
//
// unshare(1) makes the namespaces (a multi-threaded Node cannot unshare its
// own mount or pid namespace) and waits; a VMM killed by a signal makes
// unshare die of the same signal, so the shell records 128+N — SIGSYS (159)
// for a seccomp kill — where `mvm ps` reads it (liveness.ts). The VMM itself
// builds the rest of its jail (src/vmm/jail/confine.ts) once its VM is
// assembled, with the uid/gid claimed here. A network namespace is added when
// the VM has no taps (taps must stay in the namespace that made them).
import { existsSync } from 'node:fs';
import { JailError, NO_JAIL_ENV } from '../vmm/jail/lock-down.js';
import { claimJailId, type JailIdClaim } from './jail-ids.js';
import { vmFile } from './vm-dir.js';

/** The VMM's environment carries its jail: the uid/gid to drop to. */
export const JAIL_ID_ENV = 'MVM_JAIL_ID';

const UNSHARE = '/usr/bin/unshare';
const SHELL = '/bin/sh';

/** What to spawn instead of `node mvm __vmm NAME`, and the environment to spawn it with. */
export interface JailedCommand {
  readonly file: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
  readonly claim: JailIdClaim;
}

/** Refuses, in one line, a host where the jail cannot be built — never a silent unjailed run. */
export function checkJailPossible(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new JailError("the VMM's jail (namespaces, pivot_root, its own uid) needs root here: run mvm as root, or with --no-jail (unconfined)");
  }
  if (!existsSync(UNSHARE)) throw new JailError(`the VMM's jail needs ${UNSHARE} (util-linux): install it, or run with --no-jail (unconfined)`);
  if (!existsSync('/proc/self/ns/pid') || !existsSync('/proc/self/ns/mnt')) {
    throw new JailError(
      'this kernel has no pid or mount namespaces (CONFIG_PID_NS, CONFIG_NAMESPACES): the VMM cannot be jailed; run with --no-jail (unconfined)',
    );
  }
}

export function jailedVmmCommand(name: string, vmmArgv: readonly string[], options: { readonly taps: number }): JailedCommand {
  checkJailPossible();
  const claim = claimJailId(name);
  const namespaces = ['--mount', '--pid', '--ipc', '--uts', ...(options.taps === 0 ? ['--net'] : []), '--fork', '--kill-child'];
  // unshare blocks SIGTERM while it waits: a TERM for the wrapper (an interrupted `mvm run -d`) goes to the VMM itself, unshare's child.
  const script = [
    `${UNSHARE} ${namespaces.join(' ')} -- "$@" & child=$!`,
    `trap 'kill -TERM $(cat /proc/$child/task/$child/children 2>/dev/null) 2>/dev/null' TERM INT HUP`,
    'while :; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done',
    'echo "$status" >"$MVM_JAIL_EXIT_FILE"; rm -f "$MVM_JAIL_CLAIM_FILE"; exit "$status"',
  ].join('\n');
  return {
    file: SHELL,
    args: ['-c', script, 'mvm-jail', ...vmmArgv],
    env: {
      ...process.env,
      [JAIL_ID_ENV]: String(claim.id),
      MVM_JAIL_EXIT_FILE: vmFile(name, 'vmmExit'),
      MVM_JAIL_CLAIM_FILE: claim.file,
    },
    claim,
  };
}

export function jailOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[NO_JAIL_ENV] !== '1';
}
