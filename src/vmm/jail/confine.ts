// Moves a detached VMM, already started in mount/pid/ipc/uts namespaces of its
// own (src/fleet/jail-spawn.ts), into its jail once the VM is assembled:
//
//   1. a tmpfs becomes the new root; bind-mounted into it at their own paths
//      are only what the VMM still opens after assembly: its VM directory
//      (state.json, console.log; read-write), the API socket's directory, the
//      vsock socket directory, and what Node needs to start worker threads
//      (dist/, node_modules/, package.json; read-only), /dev/null and
//      /dev/urandom, and a /proc of its own pid namespace;
//   2. pivot_root there and detach the old root — the host's files are gone;
//   3. the writable directories are given to the VM's own uid/gid, and the
//      process drops to them (no supplementary groups, no capabilities left).
//
// Kernel, initrd, disk images, /dev/kvm and the taps are open by then: the
// jail needs none of their paths, so none of them is in it. The old root's
// descriptors the VMM holds stay usable — that is the point of opening
// first and dropping after (OpenBSD's privilege separation does the same).
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  mount,
  pivotRoot,
  unmount,
} from '../../sys/mount.js';
import { JailError } from './lock-down.js';

export interface JailPlan {
  /** An empty directory the jail's tmpfs is mounted on (it becomes /). */
  readonly root: string;
  /** Paths (directories or files) bind-mounted read-only at the same path. */
  readonly readOnly: readonly string[];
  /** The VM's own directories: bind-mounted read-write at the same path and given to uid/gid. */
  readonly owned: readonly string[];
  /** Directories bind-mounted read-write but left to their owner (a vsock socket's directory, maybe /tmp). */
  readonly shared: readonly string[];
  readonly uid: number;
  readonly gid: number;
}

/** Device nodes Node may open at any time (libuv's /dev/null for closed stdio, a random source). */
const DEVICES = ['/dev/null', '/dev/urandom'];
/** A tmpfs holding only mount points needs almost no room. */
const JAIL_TMPFS_OPTIONS = 'mode=0755,size=1m';

function step(what: string, action: () => void): void {
  try {
    action();
  } catch (err) {
    throw new JailError(
      `cannot build the VMM's jail (${what}: ${err instanceof Error ? err.message : String(err)}); or run with --no-jail (unconfined)`,
    );
  }
}

/** Creates the mount point for `path` inside the jail: a directory, or an empty file for a file. */
function mountPoint(root: string, path: string): string {
  const target = join(root, path);
  if (statSync(path).isDirectory()) {
    mkdirSync(target, { recursive: true, mode: 0o755 });
  } else {
    mkdirSync(join(target, '..'), { recursive: true, mode: 0o755 });
    closeSync(openSync(target, 'a', 0o644));
  }
  return target;
}

function bind(root: string, path: string, readOnly: boolean): void {
  const target = mountPoint(root, path);
  mount(path, target, null, MS_BIND);
  // A bind mount takes read-only only on a remount.
  if (readOnly) mount(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID);
}

export function confineVmm(plan: JailPlan): void {
  if (!Number.isInteger(plan.uid) || plan.uid <= 0 || !Number.isInteger(plan.gid) || plan.gid <= 0) {
    throw new JailError(`the VMM's jail needs a non-root uid and gid, not ${plan.uid}:${plan.gid}`);
  }
  // Nothing mounted below may reach the host's mount table (unshare(1) makes this so already; this makes it certain).
  step('making mounts private', () => mount(null, '/', null, MS_REC | MS_PRIVATE));
  step(`mounting a tmpfs on ${plan.root}`, () => {
    mkdirSync(plan.root, { recursive: true, mode: 0o700 });
    mount('tmpfs', plan.root, 'tmpfs', MS_NOSUID | MS_NODEV, JAIL_TMPFS_OPTIONS);
  });
  for (const path of plan.owned) {
    step(`giving ${path} to uid ${plan.uid}`, () => {
      chownSync(path, plan.uid, plan.gid);
      chmodSync(path, 0o700);
    });
  }
  // Nested paths bind in order, outer first, so an inner mount is not hidden by its parent's.
  for (const path of [...new Set([...plan.owned, ...plan.shared])].sort()) step(`binding ${path}`, () => bind(plan.root, path, false));
  for (const path of [...plan.readOnly, ...DEVICES].filter((p) => existsSync(p))) {
    step(`binding ${path}`, () => bind(plan.root, path, true));
  }
  step('mounting /proc', () => {
    mkdirSync(join(plan.root, 'proc'), { mode: 0o555 });
    mount('proc', join(plan.root, 'proc'), 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC);
  });
  step('pivot_root', () => {
    process.chdir(plan.root);
    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the jail.
    pivotRoot('.', '.');
    unmount('.', MNT_DETACH);
    process.chdir('/');
  });
  step(`dropping to uid ${plan.uid}`, () => {
    const { setgroups, setgid, setuid } = process;
    if (!setgroups || !setgid || !setuid) throw new Error('this platform has no setuid');
    setgroups([]);
    setgid(plan.gid);
    setuid(plan.uid);
  });
}
