// The system calls a jailed VMM may make once its guest runs (x86_64
// numbers), and the ioctl requests among them. Derived, not guessed: `make
// seccomp-record` (scripts/record-vmm-syscalls.sh) runs the VMM unjailed under
// strace -f through a foreground run and a detached run that is listed,
// inspected and stopped, and names every call this list lacks. Calls only
// made while the VMM is assembled (execve, setsid, KVM_CREATE_VM, TUNSETIFF,
// the jail's own mount/pivot_root/setuid) are left out: the filter goes on
// after assembly, before the first KVM_RUN.
//
// Node itself needs most of these (V8's heap, libuv's loop and thread pool);
// the groups say which part of the VMM needs each. Docker's default profile
// allows ~297 of x86_64's ~362 calls; this list allows 114 (plus ioctl with 34 requests).
import {
  KVM_CHECK_EXTENSION,
  KVM_GET_CLOCK,
  KVM_GET_DEBUGREGS,
  KVM_GET_FPU,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_MSRS,
  KVM_GET_PIT2,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_XCRS,
  KVM_GET_XSAVE,
  KVM_GET_XSAVE2,
  KVM_IOEVENTFD,
  KVM_IRQ_LINE,
  KVM_IRQFD,
  KVM_KVMCLOCK_CTRL,
  KVM_RUN,
  KVM_SET_MP_STATE,
  KVM_SET_REGS,
  KVM_SIGNAL_MSI,
} from '../../kvm/ioctls.js';
import { SECCOMP_RET_KILL_PROCESS, type SeccompPolicy } from './seccomp-program.js';

/** Group → [name, x86_64 number] (asm/unistd_64.h). Names are what strace prints, so the recorder can compare. */
export const VMM_SYSCALL_GROUPS: Readonly<Record<string, readonly (readonly [string, number])[]>> = {
  // Guest I/O, the console, the API socket, disk images (block thread: pread/pwrite), state.json.
  fileIo: [
    ['read', 0],
    ['write', 1],
    ['readv', 19],
    ['writev', 20],
    ['pread64', 17],
    ['pwrite64', 18],
    ['preadv', 295],
    ['pwritev', 296],
    ['lseek', 8],
    ['fsync', 74],
    ['fdatasync', 75],
    ['ftruncate', 77],
    ['fallocate', 285],
    ['sendfile', 40],
    ['copy_file_range', 326],
  ],
  // state.json written atomically (temp file + rename), console.log, snapshots, the API socket's removal.
  paths: [
    ['openat', 257],
    ['close', 3],
    ['fstat', 5],
    ['newfstatat', 262],
    ['statx', 332],
    ['access', 21],
    ['faccessat2', 439],
    ['readlink', 89],
    ['readlinkat', 267],
    ['getdents64', 217],
    ['getcwd', 79],
    ['mkdir', 83],
    ['mkdirat', 258],
    ['rmdir', 84],
    ['unlink', 87],
    ['unlinkat', 263],
    ['rename', 82],
    ['renameat', 264],
    ['renameat2', 316],
    ['chmod', 90],
    ['fchmod', 91],
    ['statfs', 137],
    ['fstatfs', 138],
  ],
  // V8's heap and JIT code (pkeys guard its code space), koffi's buffers, snapshot memory files.
  memory: [
    ['mmap', 9],
    ['munmap', 11],
    ['mprotect', 10],
    ['madvise', 28],
    ['brk', 12],
    ['mremap', 25],
    ['msync', 26],
    ['memfd_create', 319],
    ['pkey_alloc', 330],
    ['pkey_mprotect', 329],
    ['pkey_free', 331],
  ],
  // vCPU and block worker threads (started after the filter, so they inherit it), V8's helper threads.
  threads: [
    ['clone', 56],
    ['clone3', 435],
    ['set_robust_list', 273],
    ['rseq', 334],
    ['futex', 202],
    ['exit', 60],
    ['set_tid_address', 218],
    ['sched_getaffinity', 204],
    ['sched_yield', 24],
    ['prctl', 157],
    ['gettid', 186],
    ['nanosleep', 35],
    ['clock_nanosleep', 230],
    ['restart_syscall', 219],
  ],
  // Node's signal handling (SIGTERM → graceful stop), kicking a vCPU thread out of KVM_RUN (tgkill),
  // ending and reaping virtiofsd (kill, wait4).
  signals: [
    ['rt_sigaction', 13],
    ['rt_sigprocmask', 14],
    ['rt_sigreturn', 15],
    ['sigaltstack', 131],
    ['tgkill', 234],
    ['kill', 62],
    ['wait4', 61],
    ['waitid', 247],
    ['exit_group', 231],
  ],
  // Node and libuv asking about the process (stats, os.*, uptime); getrandom for crypto and hash seeds.
  processInfo: [
    ['getpid', 39],
    ['getuid', 102],
    ['geteuid', 107],
    ['getgid', 104],
    ['getegid', 108],
    ['capget', 125],
    ['uname', 63],
    ['sysinfo', 99],
    ['prlimit64', 302],
    ['getrusage', 98],
    ['times', 100],
    ['clock_gettime', 228],
    ['clock_getres', 229],
    ['gettimeofday', 96],
    ['getrandom', 318],
  ],
  // The API server (unix socket), vsock's host-side connections, the helper relay.
  sockets: [
    ['socket', 41],
    ['socketpair', 53],
    ['bind', 49],
    ['listen', 50],
    ['accept4', 288],
    ['connect', 42],
    ['getsockopt', 55],
    ['setsockopt', 54],
    ['getsockname', 51],
    ['getpeername', 52],
    ['shutdown', 48],
    ['sendto', 44],
    ['recvfrom', 45],
    ['sendmsg', 46],
    ['recvmsg', 47],
  ],
  // libuv's event loop, eventfds for ioeventfd/irqfd, pipes to worker threads.
  events: [
    ['epoll_create1', 291],
    ['epoll_ctl', 233],
    ['epoll_pwait', 281],
    ['epoll_wait', 232],
    ['eventfd2', 290],
    ['pipe2', 293],
    ['poll', 7],
    ['ppoll', 271],
    ['dup', 32],
    ['dup2', 33],
    ['dup3', 292],
    ['fcntl', 72],
  ],
};

/** ioctl(2) itself: allowed only with one of VMM_IOCTLS. */
export const SYSCALL_IOCTL = 16;

// Terminal and descriptor requests (asm-generic/ioctls.h): the foreground console's raw mode and size, libuv's non-blocking and close-on-exec flags.
const TCGETS = 0x5401;
const TCSETS = 0x5402;
const TCSETSW = 0x5403;
const TCSETSF = 0x5404;
const TIOCGWINSZ = 0x5413;
const FIONREAD = 0x541b;
const FIONBIO = 0x5421;
const FIONCLEX = 0x5450;
const FIOCLEX = 0x5451;
/** _IOW(0x94, 9, int): a snapshot's disk layer is a reflink of the drive's top image where the filesystem has them (src/vmm/freeze-disks.ts). */
const FICLONE = 0x40049409;

/** Group → allowed ioctl requests. */
export const VMM_IOCTL_GROUPS: Readonly<Record<string, readonly number[]>> = {
  // The vCPU loop and interrupt delivery.
  run: [KVM_RUN, KVM_IRQ_LINE, KVM_SIGNAL_MSI, KVM_IRQFD, KVM_IOEVENTFD, KVM_CHECK_EXTENSION, KVM_SET_MP_STATE],
  // Crash reports (registers of a vCPU that failed), the halt watchdog, snapshots (every KVM_GET_* the snapshot writer reads).
  state: [
    KVM_GET_REGS,
    KVM_SET_REGS,
    KVM_GET_SREGS,
    KVM_GET_MP_STATE,
    KVM_GET_VCPU_EVENTS,
    KVM_GET_LAPIC,
    KVM_GET_MSRS,
    KVM_GET_FPU,
    KVM_GET_XSAVE,
    KVM_GET_XSAVE2,
    KVM_GET_XCRS,
    KVM_GET_DEBUGREGS,
    KVM_GET_TSC_KHZ,
    KVM_GET_IRQCHIP,
    KVM_GET_CLOCK,
    KVM_GET_PIT2,
    KVM_KVMCLOCK_CTRL,
  ],
  terminal: [TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX],
  // A foreground VMM's snapshot (mvm run --snapshot-after-boot) copies each writable drive's top image by reflink, falling back to copy_file_range.
  snapshot: [FICLONE],
};

export function allowedSyscallNames(): string[] {
  return Object.values(VMM_SYSCALL_GROUPS).flatMap((group) => group.map(([name]) => name));
}

/** The jailed VMM's policy: anything else kills the whole process. */
export function vmmSeccompPolicy(otherwise: number = SECCOMP_RET_KILL_PROCESS): SeccompPolicy {
  return {
    syscalls: Object.values(VMM_SYSCALL_GROUPS).flatMap((group) => group.map(([, nr]) => nr)),
    ioctlSyscall: SYSCALL_IOCTL,
    ioctls: Object.values(VMM_IOCTL_GROUPS).flat(),
    otherwise,
  };
}
