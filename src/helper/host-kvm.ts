// What kind of KVM this host has, and whether mvm must run its VMM inside the
// helper VM to boot Linux guests (see ../shared/docs/host-kvm.md).
//
// The decision is made from facts (cpuinfo text, which files exist) by pure
// functions, so every kind of host can be tested with fixture texts; only
// readHostKvmFacts() touches the real machine.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

export const DEV_KVM = '/dev/kvm';
const CPUINFO = '/proc/cpuinfo';
/** Present when the host's KVM is PVM, which runs guest kernel code in an emulator. */
const PVM_MODULE = '/sys/module/kvm_pvm';
/** Present when any KVM module is loaded, whether or not it made /dev/kvm. */
const KVM_MODULE = '/sys/module/kvm';

/**
 * hardware      VT-x or AMD-V behind /dev/kvm: Linux guests run directly.
 * pvm           /dev/kvm is PVM: only tiny guests run; Linux needs the helper.
 * no-hw-virt    /dev/kvm exists but the CPU shows neither vmx nor svm and it
 *               is not PVM (some other paravirtual KVM): treated like PVM.
 * absent        no /dev/kvm at all: the helper (pure emulation) still works.
 */
export type KvmKind = 'hardware' | 'pvm' | 'no-hw-virt' | 'absent';

export interface HostKvmFacts {
  readonly cpuinfo: string;
  readonly devKvmExists: boolean;
  readonly devKvmAccessible: boolean;
  readonly pvmModuleLoaded: boolean;
  /** /sys/module/kvm: the KVM core is loaded (a module that would not bind leaves no /dev/kvm anyway). */
  readonly kvmModuleLoaded: boolean;
}

export interface HostKvm {
  readonly kind: KvmKind;
  /** vmx (Intel) or svm (AMD) when the CPU advertises one. */
  readonly cpuFeature: 'vmx' | 'svm' | null;
  /** False when /dev/kvm exists but this user may not open it. */
  readonly accessible: boolean;
  /** For kind 'absent': why this host has no /dev/kvm, as far as its files tell. */
  readonly absentBecause?: string;
}

/** Which hardware-virtualization flag the CPU advertises in /proc/cpuinfo. */
export function cpuVirtualizationFeature(cpuinfo: string): 'vmx' | 'svm' | null {
  for (const line of cpuinfo.split('\n')) {
    const match = /^flags\s*:(.*)$/.exec(line);
    if (!match) continue;
    const flags = new Set(match[1].trim().split(/\s+/));
    if (flags.has('vmx')) return 'vmx';
    if (flags.has('svm')) return 'svm';
  }
  return null;
}

/** True when /proc/cpuinfo's flags include `hypervisor`: this kernel runs as a virtual machine. */
export function runsUnderHypervisor(cpuinfo: string): boolean {
  return /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
}

/**
 * Why there is no /dev/kvm, from what the host shows. The case this project's
 * build machines meet: a kernel that is itself a PVM guest loads kvm_pvm,
 * which refuses to bind ("this kernel is itself a kvm-pvm guest"), and its
 * CPU shows no vmx/svm to a hardware module either.
 */
export function explainAbsentKvm(facts: HostKvmFacts, cpuFeature: 'vmx' | 'svm' | null): string {
  const guest = runsUnderHypervisor(facts.cpuinfo);
  if (facts.pvmModuleLoaded) {
    return 'the kvm_pvm module is loaded but made no device: this host is itself a PVM guest of a hypervisor that does not expose KVM to it';
  }
  if (cpuFeature === null && guest) {
    return 'this host is itself a virtual machine whose hypervisor passes no VT-x/AMD-V through (no vmx or svm flag in /proc/cpuinfo)';
  }
  if (cpuFeature === null) return 'the CPU shows neither vmx nor svm (virtualization off in the firmware, or not supported)';
  const module = cpuFeature === 'vmx' ? 'kvm_intel' : 'kvm_amd';
  return facts.kvmModuleLoaded
    ? `the KVM modules are loaded but made no device (check dmesg for ${module})`
    : `no KVM module is loaded (modprobe ${module})`;
}

export function classifyHostKvm(facts: HostKvmFacts): HostKvm {
  const cpuFeature = cpuVirtualizationFeature(facts.cpuinfo);
  const accessible = facts.devKvmExists && facts.devKvmAccessible;
  if (!facts.devKvmExists) return { kind: 'absent', cpuFeature, accessible, absentBecause: explainAbsentKvm(facts, cpuFeature) };
  let kind: KvmKind;
  if (facts.pvmModuleLoaded) kind = 'pvm';
  else if (cpuFeature === null) kind = 'no-hw-virt';
  else kind = 'hardware';
  return { kind, cpuFeature, accessible };
}

export function readHostKvmFacts(): HostKvmFacts {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync(CPUINFO, 'utf8');
  } catch {
    // Without /proc there is no flag to find; the kind becomes no-hw-virt or absent.
  }
  const devKvmExists = existsSync(DEV_KVM);
  let devKvmAccessible = false;
  if (devKvmExists) {
    try {
      accessSync(DEV_KVM, constants.R_OK | constants.W_OK);
      devKvmAccessible = true;
    } catch {
      devKvmAccessible = false;
    }
  }
  return { cpuinfo, devKvmExists, devKvmAccessible, pvmModuleLoaded: existsSync(PVM_MODULE), kvmModuleLoaded: existsSync(KVM_MODULE) };
}

export function detectHostKvm(): HostKvm {
  return classifyHostKvm(readHostKvmFacts());
}

/** MVM_HELPER: auto (default: use the helper when the host needs it), always, never (run on this host's KVM whatever it is). */
export type HelperPolicy = 'auto' | 'always' | 'never';

export function helperPolicy(env: NodeJS.ProcessEnv = process.env): HelperPolicy {
  const value = (env.MVM_HELPER ?? 'auto').trim().toLowerCase();
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'always' || value === 'never') return value;
  throw new UserError(`MVM_HELPER must be auto, always or never (got "${env.MVM_HELPER}")`, 2);
}

/** True inside the helper VM, where mvm must run everything itself. */
export function insideHelper(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.MVM_IN_HELPER === '1';
}

/** A short human description of the kind, used in notices and by `mvm doctor`. */
export function describeKvmKind(kind: KvmKind): string {
  switch (kind) {
    case 'hardware':
      return 'hardware virtualization (VT-x/AMD-V)';
    case 'pvm':
      return 'PVM (paravirtual; cannot run unmodified Linux guests)';
    case 'no-hw-virt':
      return 'KVM without VT-x/AMD-V (cannot run unmodified Linux guests)';
    case 'absent':
      return `none (${DEV_KVM} is missing)`;
  }
}

/** The notice's name for the kind: "this host's KVM (PVM) cannot run Linux guests". */
function shortKindName(kind: KvmKind): string {
  switch (kind) {
    case 'pvm':
      return "this host's KVM (PVM) cannot run Linux guests";
    case 'no-hw-virt':
      return "this host's KVM has no VT-x/AMD-V and cannot run Linux guests";
    case 'absent':
      return `this host has no ${DEV_KVM}`;
    case 'hardware':
      return "this host's KVM can run Linux guests";
  }
}

export interface HelperDecision {
  readonly useHelper: boolean;
  /** One line for stderr when the helper is used (or why it cannot be avoided). */
  readonly notice: string;
}

/**
 * Whether a command that boots Linux guests must run inside the helper VM.
 * Throws a UserError when the policy forbids the only way that would work.
 */
export function decideHelper(kvm: HostKvm, policy: HelperPolicy, inHelper: boolean): HelperDecision {
  if (inHelper) return { useHelper: false, notice: '' };
  if (policy === 'always') {
    return { useHelper: true, notice: 'mvm: MVM_HELPER=always; running inside the helper VM' };
  }
  const needed = kvm.kind !== 'hardware';
  if (!needed) return { useHelper: false, notice: '' };
  if (policy === 'never') {
    // The user asked to run on this KVM anyway: guests that avoid what it
    // cannot emulate (mvm's tiny test guests, PVM-aware kernels) work, and a
    // Linux guest that does not fails with mvm's crash report, not silently.
    if (kvm.kind === 'absent') throw new UserError(`${shortKindName(kvm.kind)}, and MVM_HELPER=never forbids the helper VM`, 3);
    return {
      useHelper: false,
      notice: `mvm: MVM_HELPER=never: running directly; ${shortKindName(kvm.kind)} unless they avoid what it cannot emulate`,
    };
  }
  return { useHelper: true, notice: `mvm: ${shortKindName(kvm.kind)}; running inside the helper VM` };
}
