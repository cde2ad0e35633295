// libc through koffi: the system calls Node lacks. With src/kvm (which uses
// these for its ioctls and mappings) the only place mvm touches native code.
// Everything crosses as raw bytes: ioctl arguments are Uint8Arrays laid out by
// the caller (src/kvm/structs.ts for KVM), mapped memory comes back as
// ArrayBuffers that alias the mapping (koffi.view), so no caller sees a pointer.
import koffi from 'koffi';
import { SyscallError } from './syscall-error.js';

const libc = koffi.load('libc.so.6');

// Two prototypes of the variadic ioctl(2): KVM passes either a pointer to a
// struct or a plain integer (slot numbers, capability ids, TSS address).
const ioctlPointer = libc.func('int ioctl(int fd, unsigned long request, void *arg)');
const ioctlValue = libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
const openFile = libc.func('int open(const char *path, int flags)');
const closeFile = libc.func('int close(int fd)');
const mmapRaw = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const eventfdRaw = libc.func('int eventfd(unsigned int initval, int flags)');
const memfdCreateRaw = libc.func('int memfd_create(const char *name, unsigned int flags)');
const ftruncateRaw = libc.func('int ftruncate(int fd, int64_t length)');
const exitNow = libc.func('void _exit(int status)');
const lseekRaw = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const fallocateRaw = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t length)');
// fcntl(2) is variadic; record locks pass a pointer to a struct flock.
const fcntlPointer = libc.func('fcntl', 'int', ['int', 'int', 'void *']);
const gettidRaw = libc.func('int gettid(void)');
const tgkillRaw = libc.func('int tgkill(int tgid, int tid, int sig)');
// prctl(2) is variadic; PR_SET_PDEATHSIG passes one integer.
const prctlValue = libc.func('prctl', 'int', ['int', 'unsigned long', 'unsigned long', 'unsigned long', 'unsigned long']);

/** open(2) flags used here (Linux x86_64 values). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
/** Guest RAM costs host memory only for the pages the guest touches. */
export const MAP_NORESERVE = 0x4000;

/** lseek(2) whence values that find a sparse file's data and holes (Linux). */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** fallocate(2) mode: deallocate the range, keep the file size. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

/** fcntl(2) record locks owned by the open file description (not the process): test, set without waiting. */
export const F_OFD_GETLK = 36;
export const F_OFD_SETLK = 37;
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
/** struct flock on x86_64: l_type (s16) at 0, l_whence (s16) at 2, l_start at 8, l_len at 16, l_pid (s32) at 24. */
const FLOCK_BYTES = 32;
const SEEK_SET = 0;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** MAP_FAILED is (void *)-1. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

export function errno(): number {
  return koffi.errno();
}

/** open(2); throws SyscallError. */
export function open(path: string, flags: number): number {
  const fd = openFile(path, flags) as number;
  if (fd < 0) throw new SyscallError(`open ${path}`, koffi.errno());
  return fd;
}

export function close(fd: number): void {
  closeFile(fd);
}

/**
 * ioctl with a struct argument. Returns the non-negative result; throws
 * SyscallError (with `what` naming the request) when it fails, except for the
 * errnos listed in `tolerate`, which are returned negated.
 */
export function ioctlWithBuffer(fd: number, request: number, arg: Uint8Array, what: string, tolerate: readonly number[] = []): number {
  const result = ioctlPointer(fd, request, arg) as number;
  if (result < 0) return fail(what, tolerate);
  return result;
}

/** ioctl with an integer argument (or none: pass 0). */
export function ioctlWithValue(fd: number, request: number, value: number | bigint, what: string, tolerate: readonly number[] = []): number {
  const result = ioctlValue(fd, request, value) as number;
  if (result < 0) return fail(what, tolerate);
  return result;
}

function fail(what: string, tolerate: readonly number[]): number {
  const e = koffi.errno();
  if (tolerate.includes(e)) return -e;
  throw new SyscallError(what, e);
}

/** A mapping that stays alive as long as the process: KVM keeps using it. */
export interface Mapping {
  /** Host virtual address, for KVM_SET_USER_MEMORY_REGION. */
  readonly address: bigint;
  /** The mapped bytes. */
  readonly buffer: ArrayBuffer;
}

/** koffi.view aborts the process beyond this, so larger mappings must be split by the caller. */
export const MAX_MAPPING_BYTES = 4 * 1024 * 1024 * 1024;

/** mmap(2); never unmapped (the VMM process owns its mappings until exit). */
export function mmap(length: number, prot: number, flags: number, fd: number, offset = 0): Mapping {
  if (!Number.isSafeInteger(length) || length <= 0 || length > MAX_MAPPING_BYTES) {
    throw new RangeError(`mmap length ${length} is outside 1..${MAX_MAPPING_BYTES}`);
  }
  const pointer = mmapRaw(null, length, prot, flags, fd, offset);
  const address = pointer === null ? 0n : BigInt(koffi.address(pointer));
  if (pointer === null || address === MAP_FAILED) {
    throw new SyscallError(`mmap of ${length} bytes`, koffi.errno());
  }
  return { address, buffer: koffi.view(pointer, length) };
}

/** eventfd(2), for irqfd and ioeventfd. */
export function eventfd(initialValue: number, flags: number): number {
  const fd = eventfdRaw(initialValue, flags) as number;
  if (fd < 0) throw new SyscallError('eventfd', koffi.errno());
  return fd;
}

/** memfd_create(2) flag: the descriptor is closed in programs this process executes. */
const MFD_CLOEXEC = 0x1;

/**
 * An anonymous memory file of `size` bytes (memfd_create + ftruncate): memory
 * that can be mapped MAP_SHARED here and handed by descriptor to another
 * process, which then sees the same pages (vhost-user's guest RAM). Pages are
 * allocated only when touched, like MAP_NORESERVE anonymous memory.
 */
export function memfd(name: string, size: number): number {
  const fd = memfdCreateRaw(name, MFD_CLOEXEC) as number;
  if (fd < 0) throw new SyscallError(`memfd_create ${name}`, koffi.errno());
  if ((ftruncateRaw(fd, size) as number) < 0) {
    const e = koffi.errno();
    closeFile(fd);
    throw new SyscallError(`ftruncate of memfd ${name} to ${size} bytes`, e);
  }
  return fd;
}

/** lseek(2); the new offset, or the negated errno when it is one of `tolerate`. */
export function lseek(fd: number, offset: number, whence: number, what: string, tolerate: readonly number[] = []): number {
  const result = Number(lseekRaw(fd, offset, whence));
  if (result < 0) return fail(what, tolerate);
  return result;
}

/** fallocate(2); 0, or the negated errno when it is one of `tolerate`. */
export function fallocate(fd: number, mode: number, offset: number, length: number, what: string, tolerate: readonly number[] = []): number {
  const result = fallocateRaw(fd, mode, offset, length) as number;
  if (result < 0) return fail(what, tolerate);
  return result;
}

/**
 * fcntl(2) with a struct flock for `length` bytes at `offset`. Returns the
 * struct's lock type afterwards (what F_OFD_GETLK found, F_UNLCK if nothing),
 * or the errno when the call failed with one of `tolerate`.
 */
export function recordLock(
  fd: number,
  cmd: number,
  type: number,
  offset: number,
  length: number,
  what: string,
  tolerate: readonly number[] = [],
): { type: number; errno?: number } {
  const flock = new DataView(new ArrayBuffer(FLOCK_BYTES));
  flock.setInt16(0, type, true);
  flock.setInt16(2, SEEK_SET, true);
  flock.setBigInt64(8, BigInt(offset), true);
  flock.setBigInt64(16, BigInt(length), true);
  const bytes = new Uint8Array(flock.buffer);
  const result = fcntlPointer(fd, cmd, bytes) as number;
  if (result < 0) return { type: -1, errno: -fail(what, tolerate) };
  return { type: flock.getInt16(0, true) };
}

/** The calling thread's kernel thread id (gettid(2)): what tgkill needs to reach one worker thread. */
export function threadId(): number {
  return gettidRaw() as number;
}

/**
 * Sends `signal` to one thread of this process (tgkill(2)). Used to
 * interrupt a vCPU thread's blocking KVM_RUN: the signal needs a handler in
 * the process (else it is ignored or kills it), and KVM_RUN then returns EINTR.
 * Returns false when the thread is gone.
 */
export function signalThread(tid: number, signal: number): boolean {
  return (tgkillRaw(process.pid, tid, signal) as number) === 0;
}

/** prctl(2) option: the signal this process gets when its parent dies. */
const PR_SET_PDEATHSIG = 1;

/**
 * Asks the kernel to send `signal` to this process when its parent exits
 * (prctl PR_SET_PDEATHSIG): a process whose parent is killed is otherwise
 * told nothing and lives on. Returns false when the kernel refused.
 */
export function setParentDeathSignal(signal: number): boolean {
  return (prctlValue(PR_SET_PDEATHSIG, signal, 0, 0, 0) as number) === 0;
}

/**
 * Ends the process at once with `status`. A vCPU thread blocked in KVM_RUN
 * cannot be joined, so Node's own process.exit() would wait for it forever;
 * callers flush what they print (stdout/stderr are synchronous on Linux) and
 * restore the terminal before calling this.
 */
export function exitImmediately(status: number): never {
  exitNow(status);
  throw new Error('unreachable: _exit returned');
}

/**
 * The bytes at a host address this process mapped earlier (in any thread):
 * how a worker thread sees the guest RAM the main thread mapped, since a
 * mapping's ArrayBuffer cannot be sent to another thread. The caller vouches
 * that [address, address+length) is mapped and stays mapped.
 */
export function viewOfMapping(address: bigint, length: number): ArrayBuffer {
  if (!Number.isSafeInteger(length) || length <= 0 || length > MAX_MAPPING_BYTES) {
    throw new RangeError(`view length ${length} is outside 1..${MAX_MAPPING_BYTES}`);
  }
  return koffi.view(address, length);
}
