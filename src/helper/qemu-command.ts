// The QEMU command line that boots the helper VM. Pure: every input is an
// argument, so the spec can check the properties that matter (loopback-only
// port forward, read-only host root, AMD-V CPU) without starting QEMU.
import { UserError } from '../errors.js';

/**
 * The daemon's port inside the helper. Only QEMU's user-mode network stack
 * can reach the helper's address, and it forwards exactly one host port
 * (bound to 127.0.0.1) here.
 */
export const GUEST_DAEMON_PORT = 7070;
/** The address QEMU's user-mode networking gives the guest (the init script configures it statically). */
export const GUEST_ADDRESS = '10.0.2.15';
/** 9p mount tag of the read-only host root; the helper's init mounts it at /host. */
export const HOST_ROOT_TAG = 'hostroot';

export interface HelperQemuOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  /** Host port on 127.0.0.1 forwarded to the daemon. */
  readonly hostPort: number;
  readonly writableShares: readonly string[];
  readonly nodePath: string;
  readonly daemonPath: string;
  /** File the daemon reads the request token from (on a writable share). */
  readonly tokenPath: string;
  readonly idleSeconds: number;
  readonly consoleLog: string;
  readonly pidFile: string;
}

/**
 * Bytes a path may keep as they are on the kernel command line, which the
 * helper's init splits on whitespace and its share list on commas and colons.
 * Every other byte (a space in a clone's path, say) is written %XX, which the
 * init decodes with printf %b and the daemon with decodeCmdlineValue().
 */
const CMDLINE_SAFE = /^[A-Za-z0-9/._+=@~-]$/;

export function encodeCmdlineValue(what: string, value: string): string {
  if (value === '') throw new UserError(`the helper VM cannot be given an empty ${what}`, 2);
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && CMDLINE_SAFE.test(char) ? char : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return out;
}

export function decodeCmdlineValue(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** QEMU's option syntax: a comma inside a value is written twice. */
function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** Mount tags of the writable shares, in order: rw0, rw1, … */
export function shareTag(index: number): string {
  return `rw${index}`;
}

export function helperKernelCmdline(o: HelperQemuOptions): string {
  const rw = o.writableShares.map((path, i) => `${shareTag(i)}:${encodeCmdlineValue('share', path)}`).join(',');
  return [
    'console=ttyS0',
    'quiet',
    'panic=-1', // a helper kernel panic powers the VM off instead of hanging it
    `mvm.node=${encodeCmdlineValue('node path', o.nodePath)}`,
    `mvm.daemon=${encodeCmdlineValue('daemon path', o.daemonPath)}`,
    `mvm.token=${encodeCmdlineValue('token path', o.tokenPath)}`,
    `mvm.port=${GUEST_DAEMON_PORT}`,
    `mvm.idle=${o.idleSeconds}`,
    ...(rw ? [`mvm.rw=${rw}`] : []),
  ].join(' ');
}

export function helperQemuArgs(o: HelperQemuOptions): string[] {
  if (!Number.isInteger(o.hostPort) || o.hostPort <= 0 || o.hostPort > 65535) throw new RangeError(`bad host port ${o.hostPort}`);
  const shares = o.writableShares.flatMap((path, i) => [
    '-virtfs',
    `local,path=${qemuOptionValue(path)},mount_tag=${shareTag(i)},security_model=none,multidevs=remap`,
  ]);
  return [
    '-name',
    'mvm-helper',
    '-accel',
    'tcg',
    // An emulated EPYC with AMD-V: Debian's kvm_amd then offers a
    // hardware-style /dev/kvm inside, whatever the host's KVM is.
    '-cpu',
    'EPYC,+svm',
    '-smp',
    String(o.cpus),
    '-m',
    String(o.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    `file:${o.consoleLog}`,
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    helperKernelCmdline(o),
    '-virtfs',
    `local,path=/,mount_tag=${HOST_ROOT_TAG},security_model=none,readonly=on,multidevs=remap`,
    ...shares,
    // restrict=on: the helper gets no route to the host or the outside; the
    // one forward binds 127.0.0.1 only, so nothing off this machine reaches it.
    '-netdev',
    `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${o.hostPort}-${GUEST_ADDRESS}:${GUEST_DAEMON_PORT}`,
    // romfile= (empty) skips loading the iPXE boot ROM nobody uses.
    '-device',
    'virtio-net-pci,netdev=net0,romfile=',
    '-pidfile',
    o.pidFile,
    '-no-reboot',
  ];
}

/** The daemon's view of the mvm.* parameters helperKernelCmdline() wrote. */
export interface DaemonParams {
  readonly tokenPath: string;
  readonly port: number;
  readonly idleSeconds: number;
}

export function parseDaemonParams(cmdline: string): DaemonParams {
  const values = new Map<string, string>();
  for (const word of cmdline.trim().split(/\s+/)) {
    const match = /^mvm\.([a-z]+)=(.*)$/.exec(word);
    if (match) values.set(match[1], match[2]);
  }
  const encodedToken = values.get('token');
  const tokenPath = encodedToken === undefined ? undefined : decodeCmdlineValue(encodedToken);
  if (!tokenPath?.startsWith('/')) throw new Error('mvm.token=<absolute path> is missing from the kernel command line');
  const port = Number(values.get('port'));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('mvm.port on the kernel command line is not a port number');
  const idle = Number(values.get('idle') ?? '0');
  if (!Number.isInteger(idle) || idle < 0) throw new Error('mvm.idle on the kernel command line is not a whole number of seconds');
  return { tokenPath, port, idleSeconds: idle };
}
