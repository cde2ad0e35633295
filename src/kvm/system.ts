// /dev/kvm itself: API version, capabilities, supported CPUID, and creating VMs.
import { constants as osConstants } from 'node:os';
import { UserError } from '../errors.js';
import * as ffi from '../sys/libc.js';
import { SyscallError, errnoName } from '../sys/syscall-error.js';
import {
  Capability,
  KVM_API_VERSION,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VM,
  KVM_GET_API_VERSION,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_VCPU_MMAP_SIZE,
} from './ioctls.js';
import { decodeMsrList, msrListBuffer, msrListCount } from './state-layouts.js';
import { cpuidBuffer, decodeCpuid, type CpuidEntry } from './structs.js';
import { VmFd } from './vm.js';

export const KVM_DEVICE = '/dev/kvm';

/** Why /dev/kvm could not be used, phrased for the user: one line, no stack. */
export class KvmUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'KvmUnavailableError';
  }
}

/** KVM_GET_SUPPORTED_CPUID fails with E2BIG until the buffer is large enough. */
const CPUID_START_CAPACITY = 64;
const CPUID_MAX_CAPACITY = 4096;
const E2BIG = osConstants.errno.E2BIG;
/** KVM_GET_MSR_INDEX_LIST answers E2BIG with the count it needs; a few hundred at most in practice. */
const MSR_LIST_START_CAPACITY = 256;
const MSR_LIST_MAX_CAPACITY = 16384;

export class Kvm {
  private constructor(readonly fd: number) {}

  static open(path = KVM_DEVICE): Kvm {
    let fd: number;
    try {
      fd = ffi.open(path, ffi.O_RDWR | ffi.O_CLOEXEC);
    } catch (err) {
      if (err instanceof SyscallError) {
        const name = errnoName(err.errno);
        if (name === 'ENOENT')
          throw new KvmUnavailableError(`${path} does not exist: this host has no KVM (load kvm_intel or kvm_amd, or enable virtualization)`);
        if (name === 'EACCES' || name === 'EPERM')
          throw new KvmUnavailableError(`no permission to open ${path}: add your user to the kvm group or run as root`);
      }
      throw err;
    }
    const kvm = new Kvm(fd);
    const version = ffi.ioctlWithValue(fd, KVM_GET_API_VERSION, 0, 'KVM_GET_API_VERSION');
    if (version !== KVM_API_VERSION) {
      ffi.close(fd);
      throw new KvmUnavailableError(`${path} speaks KVM API version ${version}, mvm needs ${KVM_API_VERSION}`);
    }
    return kvm;
  }

  checkExtension(capability: number): number {
    return ffi.ioctlWithValue(this.fd, KVM_CHECK_EXTENSION, capability, 'KVM_CHECK_EXTENSION');
  }

  /** Refuses hosts that lack what mvm's device model depends on. */
  requireCapabilities(): void {
    const needed: [string, number][] = [
      ['IRQCHIP', Capability.IRQCHIP],
      ['USER_MEMORY', Capability.USER_MEMORY],
      ['SET_TSS_ADDR', Capability.SET_TSS_ADDR],
      ['PIT2', Capability.PIT2],
    ];
    for (const [name, cap] of needed) {
      if (this.checkExtension(cap) <= 0) throw new KvmUnavailableError(`this host's KVM lacks KVM_CAP_${name}, which mvm needs`);
    }
  }

  /** Most vCPUs one VM may have (KVM_CAP_MAX_VCPUS, falling back to NR_VCPUS). */
  maxVcpus(): number {
    return this.checkExtension(Capability.MAX_VCPUS) || this.checkExtension(Capability.NR_VCPUS) || 4;
  }

  vcpuMmapSize(): number {
    return ffi.ioctlWithValue(this.fd, KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE');
  }

  supportedCpuid(): CpuidEntry[] {
    for (let capacity = CPUID_START_CAPACITY; capacity <= CPUID_MAX_CAPACITY; capacity *= 2) {
      const buffer = cpuidBuffer(capacity);
      const result = ffi.ioctlWithBuffer(this.fd, KVM_GET_SUPPORTED_CPUID, buffer, 'KVM_GET_SUPPORTED_CPUID', [E2BIG]);
      if (result >= 0) return decodeCpuid(buffer);
    }
    throw new KvmUnavailableError('KVM_GET_SUPPORTED_CPUID returned more entries than mvm accepts');
  }

  /**
   * The MSRs KVM saves and restores for a vCPU (the hardware ones it passes
   * through and those it emulates, kvmclock's and the TSC among them).
   */
  msrIndexList(): number[] {
    let capacity = MSR_LIST_START_CAPACITY;
    while (capacity <= MSR_LIST_MAX_CAPACITY) {
      const buffer = msrListBuffer(capacity);
      const result = ffi.ioctlWithBuffer(this.fd, KVM_GET_MSR_INDEX_LIST, buffer, 'KVM_GET_MSR_INDEX_LIST', [E2BIG]);
      if (result >= 0) return decodeMsrList(buffer);
      capacity = Math.max(capacity * 2, msrListCount(buffer));
    }
    throw new KvmUnavailableError('KVM_GET_MSR_INDEX_LIST returned more MSRs than mvm accepts');
  }

  createVm(): VmFd {
    const fd = ffi.ioctlWithValue(this.fd, KVM_CREATE_VM, 0, 'KVM_CREATE_VM');
    return new VmFd(fd, this.vcpuMmapSize());
  }

  close(): void {
    ffi.close(this.fd);
  }
}
