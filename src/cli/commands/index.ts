// One line per command module; each module exports `register(program)`.
// Modules load only when the command line names their command: loading all of
// them (KVM, helper, virtio, disk) costs ~150 ms of start-up that `mvm image
// convert` and friends would otherwise pay on every run.
import type { Command } from 'commander';

type Registrar = () => Promise<{ register(program: Command): void }>;

const COMMANDS: Record<string, Registrar> = {
  image: () => import('./image.js'),
  helper: () => import('./helper.js'),
  doctor: () => import('./doctor.js'),
  run: () => import('./run.js'),
  // Hidden: the processes `mvm run -d` starts (a detached VM's VMM, its host-side API relay).
  __vmm: () => import('./vmm.js'),
  __relay: () => import('./relay.js'),
  bench: () => import('./bench.js'),
  top: () => import('./top.js'),
  ps: () => import('./ps.js'),
  stop: () => import('./stop.js'),
  kill: () => import('./kill.js'),
  rm: () => import('./rm.js'),
  logs: () => import('./logs.js'),
  console: () => import('./console.js'),
  inspect: () => import('./inspect.js'),
  snapshot: () => import('./snapshot.js'),
};

/** Registers the command `argv` names, or every command (for help, version and unknown names). */
export async function registerCommands(program: Command, argv: string[] = process.argv): Promise<void> {
  const named = argv[2] !== undefined && Object.hasOwn(COMMANDS, argv[2]) ? [argv[2]] : Object.keys(COMMANDS);
  const modules = await Promise.all(named.map((name) => COMMANDS[name]!()));
  for (const m of modules) m.register(program);
}

/**
 * Loads every command module without registering anything: the helper VM's
 * warm spare calls this so that a request pays no module loading (seconds
 * under software emulation).
 */
export async function loadAllCommandModules(): Promise<void> {
  await Promise.all(Object.values(COMMANDS).map((load) => load()));
}
