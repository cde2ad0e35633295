// runc needs a cgroup hierarchy to put each container in. mvm's helper VM
// boots a bare kernel with no init system, so nothing mounts one there: the
// benchmark mounts the unified (cgroup2) hierarchy at /sys/fs/cgroup itself,
// once, when it is root and nothing is mounted yet (idempotent: a mounted
// hierarchy, ours or the host's own, is left alone).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const CGROUP_ROOT = '/sys/fs/cgroup';

function mounted(): boolean {
  // cgroup.controllers exists at the root of a cgroup2 mount; "tasks" at a v1 hierarchy's.
  return fs.existsSync(`${CGROUP_ROOT}/cgroup.controllers`) || fs.existsSync(`${CGROUP_ROOT}/memory`) || fs.existsSync(`${CGROUP_ROOT}/tasks`);
}

/** Null once a cgroup hierarchy is mounted at /sys/fs/cgroup (mounting cgroup2 if needed), else why not. */
export function ensureCgroupHierarchy(): string | null {
  if (mounted()) return null;
  if (process.getuid?.() !== 0) return `no cgroup hierarchy at ${CGROUP_ROOT}, and mounting one needs root`;
  if (!fs.existsSync(CGROUP_ROOT)) return `${CGROUP_ROOT} does not exist (sysfs not mounted?)`;
  const mount = spawnSync('mount', ['-t', 'cgroup2', 'cgroup2', CGROUP_ROOT], { encoding: 'utf8' });
  if (mount.error || mount.status !== 0) return `cannot mount cgroup2 at ${CGROUP_ROOT}: ${mount.error?.message ?? mount.stderr.trim()}`;
  return mounted() ? null : `mounted cgroup2 at ${CGROUP_ROOT} but it shows no cgroup.controllers`;
}
