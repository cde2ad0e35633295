// The detached VMM's side of its jail: started by jail-spawn.ts inside fresh
// namespaces with a claimed uid/gid, it confines itself (src/vmm/jail) once
// its VM is assembled and its API listens, then locks down (no_new_privs +
// seccomp) before the first KVM_RUN. A VMM that should be jailed but was not
// started that way refuses to run: never a silent unjailed VM.
import { readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../runtime/build-layout.js';
import { runtimeRoot } from '../runtime/paths.js';
import { confineVmm } from '../vmm/jail/confine.js';
import {
  FORBIDDEN_SYSCALL_TEST_ENV,
  JailError,
  jailWanted,
  lockDownVmm,
  makeForbiddenSyscallForSpecs,
  UNJAILED_WARNING,
} from '../vmm/jail/lock-down.js';
import { JAIL_ID_ENV } from './jail-spawn.js';
import type { VmIdentity } from './vm-lifecycle.js';
import { vmDir } from './vm-dir.js';
import type { VmRecord } from './vm-status.js';

/** How often the fault-injection hook looks for the boot, and how long after it the forbidden call comes. */
const TEST_BOOT_POLL_MS = 100;
const TEST_AFTER_BOOT_MS = 500;

/**
 * This process's pid as the host sees it: /proc is still the host's (mounted
 * outside the VMM's pid namespace) until the jail mounts its own, so
 * /proc/self names the outer pid while process.pid says 1.
 */
export function vmmOuterPid(): number {
  try {
    const pid = Number(readlinkSync('/proc/self'));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : process.pid;
  } catch {
    return process.pid;
  }
}

export function enterVmmJail(name: string, record: VmRecord, identity: VmIdentity, log: (message: string) => void, booted: () => boolean): boolean {
  if (!jailWanted()) {
    log(UNJAILED_WARNING);
    return false;
  }
  const idText = process.env[JAIL_ID_ENV];
  const id = Number(idText);
  if (idText === undefined || !Number.isSafeInteger(id) || id <= 0) {
    throw new JailError(`this VMM was started without its jail (no ${JAIL_ID_ENV}); start VMs with mvm run -d, or pass --no-jail (unconfined)`);
  }
  // The default runtime root is named after the uid (/tmp/mvm-<uid>): pinned now, or the VMM would look for its
  // VM directory under its jail uid's name once it has dropped to it.
  process.env['MVM_RUN_DIR'] = runtimeRoot();
  const owned = [vmDir(name)];
  if (identity.where === 'helper') owned.push(dirname(identity.apiListen));
  // Guest connections to host port P reach UDS_P beside the VM's vsock socket (its owner decides who may connect).
  const shared = record.vsock && !owned.includes(dirname(record.vsock.uds)) ? [dirname(record.vsock.uds)] : [];
  const started = performance.now();
  confineVmm({
    root: join(vmDir(name), 'jail'),
    readOnly: [join(PROJECT_ROOT, 'package.json'), join(PROJECT_ROOT, 'dist'), join(PROJECT_ROOT, 'node_modules')],
    owned,
    shared,
    uid: id,
    gid: id,
  });
  lockDownVmm();
  log(`jailed: uid/gid ${id}, new mount/pid/ipc/uts namespaces, seccomp allow-list on (${Math.round(performance.now() - started)} ms)`);
  if (process.env[FORBIDDEN_SYSCALL_TEST_ENV] === '1') {
    const timer = setInterval(() => {
      if (!booted()) return;
      clearInterval(timer);
      setTimeout(makeForbiddenSyscallForSpecs, TEST_AFTER_BOOT_MS);
    }, TEST_BOOT_POLL_MS);
  }
  return true;
}
