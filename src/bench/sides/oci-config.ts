// The config.json of the OCI bundle the runc side runs (OCI runtime spec
// 1.0; runc 1.1 implements 1.0.2). mvm writes it itself rather than starting
// from `runc spec`, so every line is one the benchmark chose:
//
// - the same init the microVMs boot (/init of the busybox rootfs), told by
//   the conventional `container` variable that a runtime, not a kernel,
//   started it (firmware/init), with the command in MVM_CMD, encoded as the
//   VMM encodes mvm.cmd= on the kernel command line;
// - its own pid, mount, ipc, uts and network namespaces (what a microVM gets
//   from having a kernel of its own), the runtime's default three
//   capabilities, no new privileges, a read-only root shared by all instances
//   with private tmpfs mounts for what the init writes (/run, /tmp);
// - the same memory limit as the guest's RAM, so neither side gets more.

/** The runtime-spec version written; runc 1.1 reports 1.0.2-dev. */
export const OCI_VERSION = '1.0.2';

/** What differs between containers; the rest is fixed. */
export interface OciConfigOptions {
  /** argv of the container's first process. */
  args: readonly string[];
  /** NAME=value pairs added to the process environment. */
  env: readonly string[];
  /** The bundle's root filesystem directory, relative to the bundle (or absolute). */
  rootfs: string;
  hostname: string;
  /** The container's memory limit in bytes (the guest's RAM on the VM sides). */
  memoryLimitBytes: number;
  /** cgroup path of the container, relative to the cgroup root (runc's cgroupfs driver). */
  cgroupsPath: string;
}

/** The capabilities `runc spec` gives a container by default: nothing beyond writing audit records, killing its own processes, binding low ports. */
const DEFAULT_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
const PATH = 'PATH=/sbin:/bin:/usr/sbin:/usr/bin';
/** Open files per process, runc's default. */
const NOFILE_LIMIT = 1024;
/** Small tmpfs sizes: the workload writes a marker file, nothing more. */
const DEV_TMPFS_SIZE = 'size=65536k';
const RUN_TMPFS_SIZE = 'size=16m';

/** The kernel paths runc masks and makes read-only by default, so the container cannot read or change the host's through them. */
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** The minimal mount list: what busybox and the init expect, nothing from the host. */
export const OCI_MOUNTS: readonly OciMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: [] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', DEV_TMPFS_SIZE] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  // The init's session writes its started-marker in /run: private per container, as the root is shared and read-only.
  { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', RUN_TMPFS_SIZE] },
  { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', RUN_TMPFS_SIZE] },
];

export const OCI_NAMESPACES = ['pid', 'network', 'ipc', 'uts', 'mount'] as const;

export function ociConfig(options: OciConfigOptions): Record<string, unknown> {
  if (options.args.length === 0) throw new RangeError('an OCI process needs at least one argument');
  if (!(Number.isSafeInteger(options.memoryLimitBytes) && options.memoryLimitBytes > 0)) {
    throw new RangeError(`memory limit must be a positive whole number of bytes, not ${options.memoryLimitBytes}`);
  }
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...options.args],
      env: [PATH, ...options.env],
      cwd: '/',
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: NOFILE_LIMIT, soft: NOFILE_LIMIT }],
      noNewPrivileges: true,
    },
    root: { path: options.rootfs, readonly: true },
    hostname: options.hostname,
    mounts: OCI_MOUNTS.map((m) => ({ ...m, options: [...m.options] })),
    linux: {
      cgroupsPath: options.cgroupsPath,
      resources: { memory: { limit: options.memoryLimitBytes } },
      namespaces: OCI_NAMESPACES.map((type) => ({ type })),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
