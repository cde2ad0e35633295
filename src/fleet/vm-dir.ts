// Where each microVM started with `mvm run -d` keeps its live state: one
// directory per VM under <runtime root>/vms (runtime root: $MVM_RUN_DIR, else
// $XDG_RUNTIME_DIR/mvm, else /tmp/mvm-<uid>; see src/runtime/paths.ts).
//
//   vms/<name>/vm.json       the VM as launched (VmRecord): written once by `mvm run -d`
//   vms/<name>/state.json    its life (VmStatus): rewritten (atomically) by the VMM process
//   vms/<name>/console.log   everything the guest wrote to its console
//   vms/<name>/api.sock      HTTP+JSON API (docs/api.md), mode 0600
//   vms/<name>/relay.pid     host-side relay of api.sock when the VMM runs in the helper VM
//   vms/<name>/relay.ended   the relay's reason for stopping, once it has stopped
//   vms/<name>/vmm.log       the VMM process's own messages (start, stop, crash reports)
//   vms/<name>/relay.log     the relay process's messages
//   vms/<name>/overlay-N.qcow2  throw-away copy-on-write overlays of its disks
//
// A name is claimed by creating its directory (mkdir is atomic), so two
// `mvm run -d --name x` at once never both succeed.
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { runtimeRoot, type PathEnv } from '../runtime/paths.js';

export const VM_FILES = {
  record: 'vm.json',
  status: 'state.json',
  console: 'console.log',
  api: 'api.sock',
  relayPid: 'relay.pid',
  vmmLog: 'vmm.log',
  relayLog: 'relay.log',
  /** Written by the relay when it stops (its reason): from then on a missing api.sock is final, never "relay not started yet". */
  relayEnded: 'relay.ended',
  /** The jailed VMM's exit status (128+N: killed by signal N), written by its spawn wrapper (jail-spawn.ts). */
  vmmExit: 'vmm.exit',
} as const;

/** Like Docker's container names: a letter or digit, then letters, digits, `_`, `.`, `-`. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export function vmsRoot(env: PathEnv = process.env): string {
  return join(runtimeRoot(env), 'vms');
}

export function vmDir(name: string, env: PathEnv = process.env): string {
  return join(vmsRoot(env), checkVmName(name));
}

export function vmFile(name: string, file: keyof typeof VM_FILES, env: PathEnv = process.env): string {
  return join(vmDir(name, env), VM_FILES[file]);
}

export function checkVmName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new UserError(`"${name}" is not a valid VM name: use 1–63 letters, digits, "_", "." or "-", starting with a letter or digit`, 2);
  }
  return name;
}

const ADJECTIVES = ['brisk', 'calm', 'eager', 'fond', 'keen', 'lucid', 'nimble', 'proud', 'quiet', 'swift', 'tidy', 'vivid'];
const NOUNS = ['otter', 'heron', 'lynx', 'finch', 'badger', 'marten', 'ibex', 'wren', 'gecko', 'puffin', 'tapir', 'vole'];

/** A readable name for a VM started without --name, e.g. "swift-heron-4821". */
export function generateVmName(random: () => number = Math.random): string {
  const pick = (list: readonly string[]): string => list[Math.floor(random() * list.length)]!;
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${String(Math.floor(random() * 10000)).padStart(4, '0')}`;
}
