// Model-specific registers every vCPU gets before its first KVM_RUN, as a
// freshly reset CPU would hold them after firmware: the system-call MSRs
// cleared (Linux programs them in syscall_init()), the TSC at zero, fast
// string operations enabled, and MTRRs on with write-back as the default
// memory type so guest RAM is cacheable. MSR numbers: Intel SDM vol. 4,
// table 2-2 ("IA-32 Architectural MSRs"); AMD APM vol. 2 for the syscall MSRs.

import type { MsrEntry } from '../../kvm/structs.js';

export const MSR_IA32_TSC = 0x10;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_MTRR_DEF_TYPE = 0x2ff;
/** SYSCALL target segments (STAR), 64-bit and compat entry points (LSTAR, CSTAR), RFLAGS mask (FMASK). */
export const MSR_STAR = 0xc000_0081;
export const MSR_LSTAR = 0xc000_0082;
export const MSR_CSTAR = 0xc000_0083;
export const MSR_SYSCALL_MASK = 0xc000_0084;
/** The GS base SWAPGS exchanges with. */
export const MSR_KERNEL_GS_BASE = 0xc000_0102;

/** IA32_MISC_ENABLE bit 0: fast-string operations (REP MOVS/STOS) enabled; firmware sets it. */
export const MISC_ENABLE_FAST_STRING = 1 << 0;
/** IA32_MTRR_DEF_TYPE: bit 11 E (MTRRs enabled), bits 7:0 default type 6 = write-back. */
export const MTRR_ENABLE = 1 << 11;
export const MTRR_TYPE_WRITE_BACK = 6;

/** The MSR values for each vCPU at boot (the same for all of them). */
export function bootMsrs(): MsrEntry[] {
  return [
    { index: MSR_IA32_SYSENTER_CS, data: 0 },
    { index: MSR_IA32_SYSENTER_ESP, data: 0 },
    { index: MSR_IA32_SYSENTER_EIP, data: 0 },
    { index: MSR_STAR, data: 0 },
    { index: MSR_CSTAR, data: 0 },
    { index: MSR_KERNEL_GS_BASE, data: 0 },
    { index: MSR_SYSCALL_MASK, data: 0 },
    { index: MSR_LSTAR, data: 0 },
    { index: MSR_IA32_TSC, data: 0 },
    { index: MSR_IA32_MISC_ENABLE, data: MISC_ENABLE_FAST_STRING },
    { index: MSR_MTRR_DEF_TYPE, data: MTRR_ENABLE | MTRR_TYPE_WRITE_BACK },
  ];
}
