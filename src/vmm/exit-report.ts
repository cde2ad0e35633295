// Turns a vCPU's fatal exit into the lines a user needs: what happened,
// where (RIP and the instruction bytes there), and what the guest printed last.
import { translate } from '../arch/x86_64/page-walk.js';
import type { KvmRegs, KvmSregs } from '../kvm/structs.js';
import { exitReasonName, internalSuberrorName, type VcpuExit } from '../kvm/vcpu-exit.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/** Bytes shown at RIP: the longest x86 instruction is 15 bytes. */
const INSTRUCTION_BYTES = 15;

export function describeFatalExit(exit: VcpuExit): string {
  switch (exit.kind) {
    case 'internal-error':
      return `KVM internal error (${internalSuberrorName(exit.suberror)})`;
    case 'shutdown':
      return 'the guest triple-faulted (KVM_EXIT_SHUTDOWN)';
    case 'fail-entry':
      return `KVM could not enter the guest (hardware reason 0x${exit.hardwareReason.toString(16)})`;
    case 'unknown':
      return `unknown KVM exit (hardware reason 0x${exit.hardwareReason.toString(16)})`;
    case 'system-event':
      return `KVM system event ${exit.type}`;
    case 'hlt':
      return 'the vCPU halted with no interrupt controller to wake it';
    case 'other':
      return `unexpected KVM exit: ${exitReasonName(exit.reason)}`;
    default:
      return `unexpected KVM exit: ${exit.kind}`;
  }
}

/** The architectural reset state's fetch address: CS base 0xffff0000, IP 0xfff0 (Intel SDM vol. 3, 9.1.4). */
const RESET_CS_BASE = 0xffff0000;
const RESET_IP = 0xfff0n;

/** "RIP 0x… (bytes: 0f 01 ca …)" when the registers and memory allow it. */
export function describeLocation(memory: GuestMemory, regs?: KvmRegs, sregs?: KvmSregs): string {
  if (!regs) return 'registers unavailable';
  const rip = regs.rip;
  if (rip === RESET_IP && sregs && Number(sregs.cs.base) === RESET_CS_BASE) {
    // KVM on AMD-V reinitialises the vCPU on a shutdown intercept (the VMCB is undefined after
    // one), so the registers read afterwards are the reset state, not where the guest failed.
    return 'RIP unknown: KVM reset the vCPU when it shut down (as it does on AMD-V), so where the guest failed is lost';
  }
  let where = `RIP 0x${rip.toString(16)}`;
  if (sregs) {
    const linear = BigInt(sregs.cs.base) + rip;
    const physical = translate(memory, BigInt(sregs.cr0), BigInt(sregs.cr3), linear);
    if (physical !== undefined) {
      const length = Math.max(0, Math.min(INSTRUCTION_BYTES, bytesToRegionEnd(memory, physical)));
      if (length > 0) {
        const bytes = memory.read(physical, length);
        where += `, instruction bytes ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
      }
    } else {
      where += ' (not mapped in guest memory)';
    }
  }
  return where;
}

function bytesToRegionEnd(memory: GuestMemory, address: number): number {
  for (const r of memory.regionList) {
    if (address >= r.guestAddress && address < r.guestAddress + r.bytes.length) {
      return r.guestAddress + r.bytes.length - address;
    }
  }
  return 0;
}
