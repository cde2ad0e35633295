// The last step before a VMM's first KVM_RUN: no_new_privs and the seccomp
// allow-list (syscall-allow-list.ts) on every thread. From here on a call
// outside the list kills the whole VMM with SIGSYS (SECCOMP_RET_KILL_PROCESS),
// which its parent sees as "killed by signal 31" and `mvm ps` reports.
import { UserError } from '../../errors.js';
import { installSeccompFilter, setNoNewPrivileges } from '../../sys/seccomp.js';
import { buildSeccompProgram } from './seccomp-program.js';
import { vmmSeccompPolicy } from './syscall-allow-list.js';

/** Set (to 1) by `mvm run --no-jail` or `jail = false` in the ini file; travels to the VMM (and into the helper VM) with the environment. */
export const NO_JAIL_ENV = 'MVM_NO_JAIL';
/**
 * Fault injection for the specs: a jailed VMM with this set to 1 makes one
 * call outside its allow-list (getppid) a moment after its guest booted, so
 * a spec can see the kill and how it is reported. Nothing else reads it.
 */
export const FORBIDDEN_SYSCALL_TEST_ENV = 'MVM_JAIL_TEST_FORBIDDEN_SYSCALL';
/** The message of the loud warning an unjailed VMM prints (one line, stderr). */
export const UNJAILED_WARNING =
  'WARNING: --no-jail: this VMM runs unconfined (no seccomp filter, namespaces or unprivileged uid); a guest that escapes a device owns this host. For debugging only.';

export class JailError extends UserError {}

export function jailWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[NO_JAIL_ENV] !== '1';
}

/** no_new_privs + the VMM's seccomp filter (TSYNC: all threads, and every thread started later inherits it). */
export function lockDownVmm(): void {
  const program = buildSeccompProgram(vmmSeccompPolicy());
  try {
    setNoNewPrivileges();
    installSeccompFilter(program);
  } catch (err) {
    throw new JailError(
      `cannot install the VMM's seccomp filter (${err instanceof Error ? err.message : String(err)}): this kernel needs CONFIG_SECCOMP_FILTER; or run with --no-jail (unconfined)`,
    );
  }
}

/** What FORBIDDEN_SYSCALL_TEST_ENV triggers: getppid(2) is not on the list. */
export function makeForbiddenSyscallForSpecs(): void {
  void process.ppid;
}
