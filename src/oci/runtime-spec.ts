// An OCI bundle's config.json (runtime-spec 1.x) read into what mvm-runtime
// honours: the process, the root, the mounts, memory and CPUs. Everything
// comes from whoever wrote the bundle, so every field is checked for its type
// before use; what mvm cannot honour is refused (a UserError, one line) or,
// where ignoring it is harmless in a VM, named in a warning.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { parseSize } from '../units/size.js';

/** The runtime-spec major version mvm reads (1.0.0 … 1.x.y). */
const SUPPORTED_MAJOR = '1';

/** Linux resource numbers (x86-64) of the RLIMIT_* names the spec uses. */
const RLIMIT_NUMBERS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** Guest RAM when the spec sets no memory limit, and the least a guest boots in (README, "mvm as an OCI runtime"). */
export const DEFAULT_GUEST_MEMORY = 256 * 1024 * 1024;
export const MIN_GUEST_MEMORY = 128 * 1024 * 1024;
/** vCPUs at most: more than the host has only slows the guest down. */
export const MAX_GUEST_CPUS = 16;

/** Annotations that choose the microVM (podman --annotation, a pod's annotations). */
export const KERNEL_ANNOTATION = 'org.mvm.kernel';
export const MEMORY_ANNOTATION = 'org.mvm.memory';

export interface Rlimit {
  resource: number;
  soft: bigint | 'inf';
  hard: bigint | 'inf';
}

/** A mount the guest makes itself (file systems without a host source). */
export interface GuestMount {
  kind: 'guest';
  destination: string;
  type: 'proc' | 'sysfs' | 'tmpfs' | 'devpts' | 'devtmpfs';
  options: string[];
}

/** A host file or directory bound into the container: reaches the guest as a virtio-fs share. */
export interface BindMount {
  kind: 'bind';
  destination: string;
  source: string;
  isFile: boolean;
  readOnly: boolean;
}

export type ContainerMount = GuestMount | BindMount;

export interface ContainerSpec {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  umask: number | undefined;
  additionalGids: number[];
  terminal: boolean;
  rlimits: Rlimit[];
  hostname: string | undefined;
  rootPath: string;
  rootReadOnly: boolean;
  mounts: ContainerMount[];
  memoryBytes: number;
  cpus: number;
  kernel: string | undefined;
  annotations: Record<string, string>;
  /** What the spec asks that a microVM does not do, one line each (runtime log, warning level). */
  warnings: string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(field: string, what: string): never {
  throw new UserError(`config.json: ${field} ${what}`);
}

function stringArray(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) bad(field, 'must be an array of strings');
  return value as string[];
}

function object(value: unknown, field: string): Json {
  if (value === undefined) return {};
  if (!isObject(value)) bad(field, 'must be an object');
  return value;
}

function id(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xfffffffe) bad(field, 'must be a uid/gid (0 … 4294967294)');
  return value as number;
}

function limitValue(value: unknown, field: string): bigint | 'inf' {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) bad(field, 'must be a whole number of at least 0');
  // 2^64-1 (RLIM_INFINITY) arrives as a double that rounds up to 2^64.
  return value >= 2 ** 63 ? 'inf' : BigInt(value);
}

/** Reads BUNDLE/config.json; throws a one-line UserError for every way it can be wrong. */
export function readBundle(bundle: string): ContainerSpec {
  const dir = resolve(bundle);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`bundle ${dir} is not a directory`);
  const configPath = resolve(dir, 'config.json');
  if (!existsSync(configPath)) throw new UserError(`bundle ${dir} has no config.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    throw new UserError(`${configPath} is not valid JSON (${(error as Error).message})`);
  }
  return parseSpec(parsed, dir);
}

/** The spec in `config` (parsed config.json) of the bundle in `dir`. */
export function parseSpec(config: unknown, dir: string): ContainerSpec {
  if (!isObject(config)) bad('', 'must hold a JSON object');
  const version = config['ociVersion'];
  if (typeof version !== 'string') bad('ociVersion', 'is missing');
  if (version.split('.')[0] !== SUPPORTED_MAJOR) bad('ociVersion', `"${version}" is not a runtime-spec version mvm knows (1.x)`);
  const warnings: string[] = [];

  const process_ = object(config['process'], 'process');
  if (config['process'] === undefined) bad('process', 'is missing (mvm-runtime has nothing to run)');
  const args = stringArray(process_['args'], 'process.args');
  if (args.length === 0) bad('process.args', 'is empty');
  if (process_['commandLine'] !== undefined) bad('process.commandLine', 'is for Windows');
  const cwd = process_['cwd'] ?? '/';
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) bad('process.cwd', 'must be an absolute path');
  const user = object(process_['user'], 'process.user');
  if (user['username'] !== undefined) bad('process.user.username', 'is for Windows');
  const additionalGids = (user['additionalGids'] ?? []) as unknown;
  if (!Array.isArray(additionalGids)) bad('process.user.additionalGids', 'must be an array');
  const umask = user['umask'];
  if (umask !== undefined && (!Number.isInteger(umask) || (umask as number) < 0 || (umask as number) > 0o777))
    bad('process.user.umask', 'must be 0 … 0777');
  const rlimits = (process_['rlimits'] ?? []) as unknown;
  if (!Array.isArray(rlimits)) bad('process.rlimits', 'must be an array');
  // capabilities, apparmorProfile, selinuxLabel, noNewPrivileges, and linux.seccomp/maskedPaths/readonlyPaths
  // confine a process that shares the host kernel; here the microVM is that boundary (README), so they
  // are met by construction rather than dropped, and every engine sends them: no warning.
  if (process_['oomScoreAdj'] !== undefined) warnings.push('process.oomScoreAdj is not applied inside the microVM');

  const root = object(config['root'], 'root');
  const rootPathText = root['path'];
  if (typeof rootPathText !== 'string' || rootPathText === '') bad('root.path', 'is missing');
  const rootPath = resolve(dir, rootPathText);
  if (!existsSync(rootPath) || !statSync(rootPath).isDirectory()) throw new UserError(`config.json: root.path ${rootPath} is not a directory`);
  if (rootPath.includes(',')) bad('root.path', 'may not contain a comma (virtio-fs share syntax)');

  const hostname = config['hostname'];
  if (hostname !== undefined && (typeof hostname !== 'string' || hostname.length > 64)) bad('hostname', 'must be a string of at most 64 characters');

  const annotations = object(config['annotations'], 'annotations');
  for (const [key, value] of Object.entries(annotations)) if (typeof value !== 'string') bad(`annotations["${key}"]`, 'must be a string');

  const linux = object(config['linux'], 'linux');
  const { memoryBytes, cpus } = machineSize(object(linux['resources'], 'linux.resources'), annotations as Record<string, string>, warnings);
  for (const key of ['sysctl', 'devices', 'uidMappings', 'gidMappings', 'intelRdt', 'personality']) {
    const value = linux[key];
    if (value !== undefined && !(Array.isArray(value) && value.length === 0) && !(isObject(value) && Object.keys(value).length === 0)) {
      warnings.push(`linux.${key} is not applied inside the microVM`);
    }
  }
  const kernel = (annotations as Record<string, string>)[KERNEL_ANNOTATION];
  if (kernel !== undefined && (!isAbsolute(kernel) || !existsSync(kernel)))
    bad(`annotations["${KERNEL_ANNOTATION}"]`, `${kernel} is not an existing absolute path`);

  return {
    args,
    env: stringArray(process_['env'], 'process.env'),
    cwd,
    uid: id(user['uid'], 'process.user.uid'),
    gid: id(user['gid'], 'process.user.gid'),
    umask: umask as number | undefined,
    additionalGids: additionalGids.map((g, i) => id(g, `process.user.additionalGids[${i}]`)),
    terminal: process_['terminal'] === true,
    rlimits: rlimits.map((r, i) => parseRlimit(r, `process.rlimits[${i}]`)),
    hostname: hostname as string | undefined,
    rootPath,
    rootReadOnly: root['readonly'] === true,
    mounts: parseMounts(config['mounts'], warnings),
    memoryBytes,
    cpus,
    kernel,
    annotations: annotations as Record<string, string>,
    warnings,
  };
}

function parseRlimit(value: unknown, field: string): Rlimit {
  if (!isObject(value)) bad(field, 'must be an object');
  const type = value['type'];
  if (typeof type !== 'string' || RLIMIT_NUMBERS[type] === undefined) bad(`${field}.type`, `"${String(type)}" is not a Linux rlimit`);
  return { resource: RLIMIT_NUMBERS[type]!, soft: limitValue(value['soft'], `${field}.soft`), hard: limitValue(value['hard'], `${field}.hard`) };
}

/** Guest RAM from linux.resources.memory.limit (or the annotation), vCPUs from the CPU quota or cpuset. */
function machineSize(resources: Json, annotations: Record<string, string>, warnings: string[]): { memoryBytes: number; cpus: number } {
  const memory = object(resources['memory'], 'linux.resources.memory');
  let memoryBytes = DEFAULT_GUEST_MEMORY;
  const limit = memory['limit'];
  if (limit !== undefined && limit !== -1) {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0)
      bad('linux.resources.memory.limit', 'must be a positive whole number of bytes');
    memoryBytes = limit;
  }
  const chosen = annotations[MEMORY_ANNOTATION];
  if (chosen !== undefined) {
    try {
      memoryBytes = parseSize(chosen, 'memory size');
    } catch (error) {
      bad(`annotations["${MEMORY_ANNOTATION}"]`, (error as Error).message);
    }
  }
  if (memoryBytes < MIN_GUEST_MEMORY) {
    warnings.push(`memory limit ${memoryBytes} bytes is below what the guest boots in: using ${MIN_GUEST_MEMORY / 1024 / 1024} MiB`);
    memoryBytes = MIN_GUEST_MEMORY;
  }
  // Whole MiB: the VMM sizes guest memory in pages and the e820 map likes round numbers.
  memoryBytes = Math.ceil(memoryBytes / (1024 * 1024)) * 1024 * 1024;

  const cpu = object(resources['cpu'], 'linux.resources.cpu');
  let cpus = 1;
  const quota = cpu['quota'];
  const period = cpu['period'] ?? 100000;
  if (quota !== undefined && quota !== -1 && quota !== 0) {
    if (typeof quota !== 'number' || typeof period !== 'number' || quota < 0 || period <= 0)
      bad('linux.resources.cpu', 'quota/period must be positive numbers');
    cpus = Math.ceil(quota / period);
  } else if (typeof cpu['cpus'] === 'string' && cpu['cpus'] !== '') {
    cpus = countCpuList(cpu['cpus']);
  }
  if (cpus > MAX_GUEST_CPUS) {
    warnings.push(`${cpus} CPUs asked: using ${MAX_GUEST_CPUS} vCPUs`);
    cpus = MAX_GUEST_CPUS;
  }
  for (const key of ['blockIO', 'hugepageLimits', 'network', 'rdma', 'devices']) {
    const value = resources[key];
    if (key === 'devices') continue; // the default device rules every engine sends: a VM has its own devices
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) warnings.push(`linux.resources.${key} is not applied to the microVM`);
  }
  return { memoryBytes, cpus: Math.max(1, cpus) };
}

/** "0-3,6" → 5. */
function countCpuList(list: string): number {
  let count = 0;
  for (const part of list.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) bad('linux.resources.cpu.cpus', `"${list}" is not a CPU list`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) bad('linux.resources.cpu.cpus', `"${list}" is not a CPU list`);
    count += last - first + 1;
  }
  return count;
}

const GUEST_TYPES = new Set(['proc', 'sysfs', 'tmpfs', 'devpts']);

function parseMounts(value: unknown, warnings: string[]): ContainerMount[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad('mounts', 'must be an array');
  const mounts: ContainerMount[] = [];
  value.forEach((entry, i) => {
    const field = `mounts[${i}]`;
    if (!isObject(entry)) bad(field, 'must be an object');
    const destination = entry['destination'];
    if (typeof destination !== 'string' || !isAbsolute(destination) || destination.split('/').includes('..')) {
      bad(`${field}.destination`, 'must be an absolute path without ..');
    }
    if (/[\s'"\\]/.test(destination)) bad(`${field}.destination`, 'may not contain blanks, quotes or backslashes');
    const options = stringArray(entry['options'], `${field}.options`);
    const type = typeof entry['type'] === 'string' ? entry['type'] : undefined;
    const isBind = type === 'bind' || options.includes('bind') || options.includes('rbind');
    if (isBind) {
      const source = entry['source'];
      if (typeof source !== 'string' || !isAbsolute(source)) bad(`${field}.source`, 'must be an absolute host path');
      if (!existsSync(source)) throw new UserError(`config.json: ${field}.source ${source} does not exist`);
      if (source.includes(',')) bad(`${field}.source`, 'may not contain a comma (virtio-fs share syntax)');
      const stats = statSync(source);
      if (!stats.isFile() && !stats.isDirectory()) bad(`${field}.source`, `${source} is neither a file nor a directory`);
      // The shared-memory directory is memory on the host; a guest tmpfs is the same thing inside the VM.
      if (destination === '/dev/shm') {
        mounts.push({ kind: 'guest', destination, type: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
        return;
      }
      mounts.push({ kind: 'bind', destination, source, isFile: stats.isFile(), readOnly: options.includes('ro') });
      return;
    }
    if (type === 'mqueue') {
      warnings.push(`mount ${destination} (mqueue) is not made: mvm's guest kernel has no POSIX message queues`);
      return;
    }
    if (type === 'cgroup' || type === 'cgroup2') {
      warnings.push(`mount ${destination} (${type}) is not made: the guest runs no cgroup hierarchy for the container`);
      return;
    }
    if (type === undefined || !GUEST_TYPES.has(type))
      bad(`${field}.type`, `"${String(type)}" is not a file system mvm-runtime mounts (proc, sysfs, tmpfs, devpts, mqueue, bind)`);
    // /dev as a tmpfs is where runc creates device nodes; the guest's devtmpfs has them all.
    const guestType = destination === '/dev' && type === 'tmpfs' ? 'devtmpfs' : (type as GuestMount['type']);
    const guestOptions = options.filter((o) => /^[A-Za-z0-9_=.,:-]+$/.test(o) && guestType !== 'devtmpfs');
    mounts.push({ kind: 'guest', destination, type: guestType, options: guestOptions });
  });
  return mounts;
}
