// The container side: `runc run` in the foreground on an OCI bundle mvm
// writes itself (bundle.ts, oci-config.ts) whose root is the guest's own
// initramfs, unpacked. The container's first process is the same /init the
// microVMs boot; the `container` variable tells it a runtime started it
// (firmware/init: it skips what needs a kernel of its own, runs the session
// in the foreground and exits with the command's status), and MVM_CMD
// carries the command exactly as mvm.cmd= does on the kernel command line.
// So all three sides end at the same event: the same init's session printing
// the same marker.
//
// Stopping: the container's PID 1 ignores SIGTERM (no handler, and PID 1 of a
// namespace gets only the signals it handles), so `runc kill … KILL`; `runc
// run` then deletes the container, and `runc delete --force` makes sure.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { commandParameter } from '../../vmm/default-cmdline.js';
import { GUEST_MEMORY_MIB, IDLE_COMMAND, MARKER_COMMAND, type GuestFiles } from '../boot/contenders.js';
import { BENCH_RUN_DIR, removeBundle, unpackedRootfs, writeBundle } from './bundle.js';
import { ensureCgroupHierarchy } from './cgroup.js';
import { startProcessInstance } from './process-instance.js';
import type { BenchSide } from './side.js';

const execFileAsync = promisify(execFile);

export const RUNC = 'runc';
/** runc's state for the benchmark's containers only, apart from any other user of runc on the machine. */
const RUNC_STATE = path.join(BENCH_RUN_DIR, 'runc');
/** The parent cgroup of every benchmark container. */
const CGROUP_PARENT = '/mvm-bench';
/** The same host name the guest's init sets. */
const HOSTNAME = 'mvm';
/** The value of `container` (systemd's container interface names the manager there). */
const CONTAINER_MANAGER = 'mvm';
/** What firmware/init checks to know it runs in a container; missing from an initramfs built before that. */
const INIT_CONTAINER_SUPPORT = 'mvm_in_container';
const MiB = 1024 * 1024;
/** runc kill/delete are quick; this only stops a wedged one. */
const RUNC_COMMAND_LIMIT_MS = 30_000;

const runcArgs = (...args: string[]) => ['--root', RUNC_STATE, ...args];

async function runcQuietly(...args: string[]): Promise<void> {
  await execFileAsync(RUNC, runcArgs(...args), { timeout: RUNC_COMMAND_LIMIT_MS }).catch(() => undefined);
}

export function runcSide(files: GuestFiles): BenchSide {
  let rootfs: string | undefined;
  return {
    name: 'runc',
    label: 'runc',
    unavailable: async () => {
      const probe = spawnSync(RUNC, ['--version'], { stdio: 'ignore' });
      if (probe.error || probe.status !== 0) return `${RUNC} is not installed (Debian package runc)`;
      if (process.getuid?.() !== 0) return 'runc needs root here (the benchmark sets up no rootless containers)';
      const cgroups = ensureCgroupHierarchy();
      if (cgroups) return cgroups;
      try {
        rootfs = unpackedRootfs(files.initrd);
      } catch (err) {
        return (err as Error).message;
      }
      if (!fs.readFileSync(path.join(rootfs, 'lib/mvm/init-lib.sh'), 'utf8').includes(INIT_CONTAINER_SUPPORT)) {
        return `${files.initrd} was built before its init could run in a container (make rootfs)`;
      }
      return null;
    },
    start: (id, options) => {
      if (!rootfs) throw new Error('runc side: unavailable() must succeed before start()');
      const command = options.workload === 'idle' ? IDLE_COMMAND : MARKER_COMMAND;
      // The value of mvm.cmd=, the same base64 the guest's init decodes.
      const encoded = commandParameter(command).slice('mvm.cmd='.length);
      const bundle = writeBundle(id, {
        args: ['/init'],
        env: [`container=${CONTAINER_MANAGER}`, `MVM_CMD=${encoded}`],
        rootfs,
        hostname: HOSTNAME,
        memoryLimitBytes: GUEST_MEMORY_MIB * MiB,
        cgroupsPath: `${CGROUP_PARENT}/${id}`,
      });
      return startProcessInstance({
        side: 'runc',
        id,
        command: RUNC,
        args: runcArgs('run', '--bundle', bundle, id),
        kill: () => runcQuietly('kill', id, 'KILL'),
        afterExit: async () => {
          await runcQuietly('delete', '--force', id);
          removeBundle(id);
        },
      });
    },
  };
}
