// The VMM's seccomp filter as a classic BPF program (bytes the kernel takes
// through src/sys/seccomp.ts). Shape:
//
//   arch != x86_64 → kill          (an i386 or x32 entry would renumber every call)
//   nr ≥ X32 bit   → kill
//   nr == ioctl    → jump to the ioctl block
//   nr == N        → allow          (one pair per allowed call, most frequent first)
//   otherwise      → kill
//   ioctl block: request == R → allow, one pair per allowed request; otherwise kill
//
// Each comparison is followed by its own `ret` so no jump offset exceeds the
// 8-bit jt/jf fields however long the list grows; the jump to the ioctl block
// is a `ja`, whose offset is 32 bits.
import { BPF_INSTRUCTION_BYTES, BPF_MAX_INSTRUCTIONS } from '../../sys/seccomp.js';

// struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** args[1] of ioctl is the request; the kernel reads it as an unsigned int, so its low 32 bits (little-endian) are what counts. */
const OFFSET_ARG1_LOW = 16 + 8;

// Classic BPF opcodes (linux/bpf_common.h).
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JGE_K = 0x05 | 0x30 | 0x00; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JMP_JA = 0x05 | 0x00; // BPF_JMP | BPF_JA
const BPF_RET_K = 0x06 | 0x00; // BPF_RET | BPF_K

/** AUDIT_ARCH_X86_64 = EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** Syscall numbers with this bit set are the x32 ABI's. */
const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
/** Allows the call and logs it (the kernel's audit log): for recording what a list lacks without dying of it. */
export const SECCOMP_RET_LOG = 0x7ffc0000;

export interface SeccompPolicy {
  /** Allowed syscall numbers (x86_64), ioctl excluded: it is narrowed by `ioctls`. */
  readonly syscalls: readonly number[];
  /** The ioctl(2) number, allowed only with a request in `ioctls`. */
  readonly ioctlSyscall: number;
  /** Allowed ioctl request numbers (32-bit). */
  readonly ioctls: readonly number[];
  /** What a call outside the policy gets: kill the process (the jail) or log it (recording). */
  readonly otherwise: number;
}

function instruction(code: number, jt: number, jf: number, k: number): Uint8Array {
  const bytes = new Uint8Array(BPF_INSTRUCTION_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, code, true);
  view.setUint8(2, jt);
  view.setUint8(3, jf);
  view.setUint32(4, k >>> 0, true);
  return bytes;
}

function checkNumber(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`seccomp policy: ${what} ${n} is not a 32-bit number`);
}

/** The filter for `policy`, as the bytes of a struct sock_filter array. */
export function buildSeccompProgram(policy: SeccompPolicy): Uint8Array {
  for (const n of policy.syscalls) checkNumber(n, 'syscall');
  for (const n of policy.ioctls) checkNumber(n, 'ioctl request');
  if (policy.syscalls.includes(policy.ioctlSyscall)) throw new RangeError('seccomp policy: ioctl is narrowed by its requests, not allowed whole');
  const syscalls = [...new Set(policy.syscalls)];
  const ioctls = [...new Set(policy.ioctls)];
  const out: Uint8Array[] = [];
  const kill = SECCOMP_RET_KILL_PROCESS;
  out.push(instruction(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH));
  out.push(instruction(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64));
  out.push(instruction(BPF_RET_K, 0, 0, kill));
  out.push(instruction(BPF_LD_W_ABS, 0, 0, OFFSET_NR));
  out.push(instruction(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT));
  out.push(instruction(BPF_RET_K, 0, 0, kill));
  // ioctl first: KVM_RUN is the VMM's most frequent call by far.
  out.push(instruction(BPF_JMP_JEQ_K, 0, 1, policy.ioctlSyscall));
  // Skips the syscall pairs and the final ret below: lands on the ioctl block.
  out.push(instruction(BPF_JMP_JA, 0, 0, syscalls.length * 2 + 1));
  for (const nr of syscalls) {
    out.push(instruction(BPF_JMP_JEQ_K, 0, 1, nr));
    out.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
  }
  out.push(instruction(BPF_RET_K, 0, 0, policy.otherwise));
  out.push(instruction(BPF_LD_W_ABS, 0, 0, OFFSET_ARG1_LOW));
  for (const request of ioctls) {
    out.push(instruction(BPF_JMP_JEQ_K, 0, 1, request));
    out.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
  }
  out.push(instruction(BPF_RET_K, 0, 0, policy.otherwise));
  if (out.length > BPF_MAX_INSTRUCTIONS)
    throw new RangeError(`seccomp policy: ${out.length} instructions, the kernel takes ${BPF_MAX_INSTRUCTIONS} at most`);
  const program = new Uint8Array(out.length * BPF_INSTRUCTION_BYTES);
  for (const [i, ins] of out.entries()) program.set(ins, i * BPF_INSTRUCTION_BYTES);
  return program;
}
