// The exit-loop benchmark's guest: a real-mode `out` loop, set up through
// mvm's own KVM layer (src/kvm). firmware/bench/exit-loop.c builds the very
// same guest in C; keep the constants of both in step.
import { Kvm } from '../../kvm/system.js';
import type { VcpuFd } from '../../kvm/vcpu.js';
import type { VmFd } from '../../kvm/vm.js';

/** 64 KiB of guest RAM at guest physical 0: room for the code, nothing else needed. */
export const GUEST_MEMORY_BYTES = 0x10000;
/** Where the loop's code sits; real mode with CS base 0, so also its IP. */
export const GUEST_CODE_ADDRESS = 0x1000;
/** An I/O port no in-kernel device claims, so every write exits to the VMM. */
export const EXIT_PORT = 0x10;
/** Intel VMX wants three pages for a real-mode TSS below 4 GiB; AMD and PVM ignore it. */
const TSS_ADDRESS = 0xfffb_d000;
/** RFLAGS bit 1 is reserved and always set. */
const RFLAGS_RESERVED = 0x2;

/** mov al, 1; out EXIT_PORT, al; jmp back to the out (rel8 -4). */
export const GUEST_CODE = Uint8Array.of(0xb0, 0x01, 0xe6, EXIT_PORT, 0xeb, 0xfc);

export interface ExitLoopGuest {
  kvm: Kvm;
  vm: VmFd;
  vcpu: VcpuFd;
}

/** Kvm.open → createVm → addAnonymousMemory → createVcpu, with the vCPU parked on the loop. */
export function createExitLoopGuest(): ExitLoopGuest {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  vm.setTssAddress(TSS_ADDRESS);
  const memory = vm.addAnonymousMemory(0, GUEST_MEMORY_BYTES);
  new Uint8Array(memory.buffer).set(GUEST_CODE, GUEST_CODE_ADDRESS);
  const vcpu = vm.createVcpu(0);
  // A fresh vCPU starts in real mode at the reset vector (CS base 0xffff0000); point CS at 0.
  vcpu.updateSregs((s) => ({ ...s, cs: { ...s.cs, base: 0, selector: 0 } }));
  vcpu.setRegs({ rip: GUEST_CODE_ADDRESS, rflags: RFLAGS_RESERVED });
  return { kvm, vm, vcpu };
}

/** Runs COUNT exits through vcpu.runOnce(), the call mvm's vCPU threads make; anything but the loop's port write is an error. */
export function runExits(vcpu: VcpuFd, count: number): void {
  for (let i = 0; i < count; i++) {
    const exit = vcpu.runOnce();
    if (exit.kind === 'intr') {
      i--;
      continue;
    }
    if (exit.kind !== 'io' || exit.port !== EXIT_PORT || !exit.isWrite) {
      throw new Error(`exit-loop guest: unexpected exit ${JSON.stringify(exit, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    }
  }
}
