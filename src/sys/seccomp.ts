// seccomp(2) and the prctl(2) calls around it, through koffi: the one place
// the VMM's jail touches native code for its syscall filter. The filter
// program itself (classic BPF, as bytes) is built in src/vmm/jail, which knows
// what the VMM needs; this file only hands it to the kernel.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { SyscallError } from './syscall-error.js';

const libc = koffi.load('libc.so.6');

/** struct sock_fprog { unsigned short len; struct sock_filter *filter; } (x86_64: len at 0, pointer at 8). */
const SockFprog = koffi.struct('mvm_sock_fprog', { len: 'uint16_t', filter: 'void *' });
const seccompSyscall = libc.func('syscall', 'long', ['long', 'unsigned int', 'unsigned int', koffi.pointer(SockFprog)]);
// prctl(2) is variadic; the calls here pass integers only.
const prctlValue = libc.func('prctl', 'int', ['int', 'unsigned long', 'unsigned long', 'unsigned long', 'unsigned long']);

/** x86_64 syscall number of seccomp(2) (glibc has no wrapper in older releases). */
const SYS_SECCOMP = 317;
const SECCOMP_SET_MODE_FILTER = 1;
/** Apply the filter to every thread of the process, not only the caller (V8's and libuv's threads too). */
const SECCOMP_FILTER_FLAG_TSYNC = 1;
const PR_SET_NO_NEW_PRIVS = 38;
/** One classic BPF instruction: u16 code, u8 jt, u8 jf, u32 k. */
export const BPF_INSTRUCTION_BYTES = 8;
/** BPF_MAXINSNS: the kernel refuses longer programs. */
export const BPF_MAX_INSTRUCTIONS = 4096;

/** prctl(PR_SET_NO_NEW_PRIVS): from here on no exec can gain privileges (set-uid files, file capabilities). */
export function setNoNewPrivileges(): void {
  if (prctlValue(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) throw new SyscallError('prctl(PR_SET_NO_NEW_PRIVS)', koffi.errno());
}

/**
 * Installs a seccomp filter on every thread of this process (TSYNC). Needs
 * no_new_privs first (or CAP_SYS_ADMIN). A positive return from TSYNC names a
 * thread that could not be synchronised: treated as a failure, since a thread
 * left unfiltered would defeat the filter.
 */
export function installSeccompFilter(program: Uint8Array): void {
  const count = program.byteLength / BPF_INSTRUCTION_BYTES;
  if (!Number.isInteger(count) || count === 0 || count > BPF_MAX_INSTRUCTIONS) {
    throw new RangeError(
      `a seccomp program is 1 to ${BPF_MAX_INSTRUCTIONS} instructions of ${BPF_INSTRUCTION_BYTES} bytes, not ${program.byteLength} bytes`,
    );
  }
  const result = Number(seccompSyscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, { len: count, filter: program }));
  if (result < 0) throw new SyscallError('seccomp(SECCOMP_SET_MODE_FILTER)', koffi.errno());
  if (result > 0) throw new Error(`seccomp: thread ${result} could not be given the filter (TSYNC)`);
}

/** The Seccomp and NoNewPrivs lines of /proc/PID/status: 2 is "filter mode". */
export function seccompStatus(pid: number | 'self' = 'self'): { seccomp: number; noNewPrivs: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { seccomp: field('Seccomp'), noNewPrivs: field('NoNewPrivs') };
}
