// The `mvm run` command line that boots a container: its root and bind
// mounts as virtio-fs shares the guest init mounts under /oci, and a guest
// shell script (run by mvm's initramfs, whose busybox is there whatever the
// image holds) that makes the container's mounts inside that root and hands
// over to mvm-oci-exec (firmware/guest-tools), which chroots, switches user,
// sets rlimits and execs the process.
//
// A bind of a single file (podman binds /etc/hosts, /etc/resolv.conf,
// /etc/hostname, /run/.containerenv) shares the file's parent directory and
// binds the one file inside the guest: virtio-fs shares directories, and a
// copy would not see later writes. Binds with the same parent share one
// directory (one virtiofsd).
import { basename, dirname } from 'node:path';
import type { ShareSettings } from '../devices/settings.js';
import { shellQuote } from '../vmm/default-cmdline.js';
import type { ContainerSpec } from './runtime-spec.js';

/** Where the guest mounts the container's root share. */
export const GUEST_ROOT = '/oci/root';
const GUEST_BINDS = '/oci/binds';
/** Where the guest mounts the directory holding its start script. */
const GUEST_BOOT = '/oci/boot';
const ROOT_TAG = 'oci-root';
const BOOT_TAG = 'oci-boot';
/** mount(8) options about propagation, which a VM without a shared mount tree has no use for. */
const PROPAGATION_OPTIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable', 'bind', 'rbind']);

interface SharedDir {
  hostDir: string;
  tag: string;
  guestDir: string;
  readOnly: boolean;
}

/** `mvm run` arguments (after the mvm entry) for the container; `interactive` forwards stdin. */
export interface GuestLaunch {
  /** `mvm run` arguments (after the mvm entry script). */
  args: string[];
  /** Every share, for the reach check before anything starts. */
  shares: ShareSettings[];
  /** The guest script, to be written to GUEST_SCRIPT_NAME in `bootDir` before start. */
  script: string;
}

/** The script's name in the boot directory. */
export const GUEST_SCRIPT_NAME = 'start.sh';

/**
 * The launch of the container in `spec`; `bootDir` is a host directory the
 * helper VM can reach that will hold the script (the kernel command line,
 * 2 KiB, is too short for a container's environment and mounts).
 */
export function guestLaunch(spec: ContainerSpec, bootDir: string, options: { interactive: boolean }): GuestLaunch {
  const shares: SharedDir[] = [];
  const script: string[] = [];
  // A pipe is not a terminal: no echo of the input, no CR before each LF.
  if (!spec.terminal) script.push('stty -echo -onlcr 2>/dev/null');
  // The shim holds stdin back until this (shim.ts, GUEST_READY_MARKER): input before it would be echoed.
  if (options.interactive) script.push(String.raw`printf '\033_mvm-ready\033\\'`);
  script.push(`R=${GUEST_ROOT}`);
  for (const mount of spec.mounts) {
    const target = `"$R"${shellQuote(mount.destination)}`;
    if (mount.kind === 'guest') {
      const options = mount.options.filter((o) => !PROPAGATION_OPTIONS.has(o));
      const flags = options.length > 0 ? ` -o ${shellQuote(options.join(','))}` : '';
      script.push(
        `mkdir -p ${target} 2>/dev/null; mount -t ${mount.type}${flags} ${mount.type} ${target} || echo "mvm-runtime: cannot mount ${mount.type} at ${mount.destination}" >&2`,
      );
      continue;
    }
    const hostDir = mount.isFile ? dirname(mount.source) : mount.source;
    let share = shares.find((s) => s.hostDir === hostDir);
    if (!share) {
      share = { hostDir, tag: `oci-bind-${shares.length}`, guestDir: `${GUEST_BINDS}/${shares.length}`, readOnly: mount.readOnly };
      shares.push(share);
    }
    // One share serves several binds: writable if any of them is, each bind read-only as asked.
    if (!mount.readOnly) share.readOnly = false;
    const from = mount.isFile ? `${share.guestDir}/${shellQuote(basename(mount.source))}` : share.guestDir;
    const make = mount.isFile ? `[ -e ${target} ] || touch ${target} 2>/dev/null` : `mkdir -p ${target} 2>/dev/null`;
    const readOnly = mount.readOnly ? ` && mount -o remount,bind,ro ${target}` : '';
    script.push(`${make}; mount --bind ${from} ${target}${readOnly} || echo "mvm-runtime: cannot bind ${mount.destination}" >&2`);
  }
  script.push(`exec /usr/bin/mvm-oci-exec ${execOptions(spec).map(shellQuote).join(' ')} -- ${spec.args.map(shellQuote).join(' ')}`);

  const args = ['run', '--memory', `${spec.memoryBytes / (1024 * 1024)}M`, '--cpus', String(spec.cpus)];
  if (spec.kernel !== undefined) args.push('--kernel', spec.kernel);
  args.push('--share', `${spec.rootPath},tag=${ROOT_TAG},mount=${GUEST_ROOT}${spec.rootReadOnly ? ',ro' : ''}`);
  args.push('--share', `${bootDir},tag=${BOOT_TAG},mount=${GUEST_BOOT},ro`);
  for (const share of shares) args.push('--share', `${share.hostDir},tag=${share.tag},mount=${share.guestDir}${share.readOnly ? ',ro' : ''}`);
  if (options.interactive) args.push('--interactive');
  args.push('--', '/bin/sh', `${GUEST_BOOT}/${GUEST_SCRIPT_NAME}`);
  const settings: ShareSettings[] = [
    { path: spec.rootPath, tag: ROOT_TAG, readOnly: spec.rootReadOnly, mountPoint: GUEST_ROOT },
    { path: bootDir, tag: BOOT_TAG, readOnly: true, mountPoint: GUEST_BOOT },
    ...shares.map((s) => ({ path: s.hostDir, tag: s.tag, readOnly: s.readOnly, mountPoint: s.guestDir })),
  ];
  return { args, shares: settings, script: `${script.join('\n')}\n` };
}

function execOptions(spec: ContainerSpec): string[] {
  const options = ['-r', GUEST_ROOT, '-w', spec.cwd, '-u', String(spec.uid), '-g', String(spec.gid)];
  if (spec.additionalGids.length > 0) options.push('-G', spec.additionalGids.join(','));
  if (spec.hostname !== undefined && spec.hostname !== '') options.push('-h', spec.hostname);
  if (spec.umask !== undefined) options.push('-m', String(spec.umask));
  for (const limit of spec.rlimits) options.push('-l', `${limit.resource}:${limit.soft}:${limit.hard}`);
  for (const variable of spec.env) options.push('-e', variable);
  return options;
}
