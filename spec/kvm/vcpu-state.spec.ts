// The KVM state a snapshot is made of: ioctl numbers and struct sizes checked
// against <linux/kvm.h>, and, on a real KVM (this host's or the helper VM's),
// a counting guest saved mid-count that goes on counting in a second VM.
import { expect } from 'chai';
import * as ioctls from '../../src/kvm/ioctls.js';
import * as layouts from '../../src/kvm/state-layouts.js';
import { Kvm } from '../../src/kvm/system.js';
import type { VcpuFd } from '../../src/kvm/vcpu.js';
import type { VmFd } from '../../src/kvm/vm.js';
import {
  MSR_IA32_TSC,
  MSR_IA32_TSC_DEADLINE,
  MSR_KVM_SYSTEM_TIME_NEW,
  msrRestoreOrder,
  readMsrs,
  restoreVcpuState,
  saveVcpuState,
  vcpuStateSupport,
} from '../../src/kvm/vcpu-state.js';
import { restoreVmState, saveVmState } from '../../src/kvm/vm-state.js';
import { describeWithKvm } from '../helpers/kvm-in-helper.js';

describe('KVM state ioctls and layouts', () => {
  it('match the numbers and sizes <linux/kvm.h> gives on x86_64', () => {
    // Reference values printed by a C program including <linux/kvm.h> (Debian 12's linux-libc-dev).
    const expected: Record<string, number> = {
      KVM_GET_MSR_INDEX_LIST: 0xc004ae02,
      KVM_GET_MSRS: 0xc008ae88,
      KVM_GET_FPU: 0x81a0ae8c,
      KVM_SET_FPU: 0x41a0ae8d,
      KVM_GET_XSAVE: 0x9000aea4,
      KVM_SET_XSAVE: 0x5000aea5,
      KVM_GET_XSAVE2: 0x9000aecf,
      KVM_GET_XCRS: 0x8188aea6,
      KVM_SET_XCRS: 0x4188aea7,
      KVM_GET_DEBUGREGS: 0x8080aea1,
      KVM_SET_DEBUGREGS: 0x4080aea2,
      KVM_SET_VCPU_EVENTS: 0x4040aea0,
      KVM_GET_IRQCHIP: 0xc208ae62,
      KVM_SET_IRQCHIP: 0x8208ae63,
      KVM_GET_PIT2: 0x8070ae9f,
      KVM_SET_PIT2: 0x4070aea0,
      KVM_GET_CLOCK: 0x8030ae7c,
      KVM_SET_CLOCK: 0x4030ae7b,
      KVM_GET_TSC_KHZ: 0xaea3,
      KVM_SET_TSC_KHZ: 0xaea2,
      KVM_KVMCLOCK_CTRL: 0xaead,
    };
    const actual = Object.fromEntries(Object.keys(expected).map((name) => [name, (ioctls as unknown as Record<string, number>)[name]]));
    expect(actual).to.deep.equal(expected);
    expect([
      layouts.FPU_BYTES,
      layouts.XSAVE_BYTES,
      layouts.XCRS_BYTES,
      layouts.DEBUGREGS_BYTES,
      layouts.VCPU_EVENTS_BYTES,
      layouts.IRQCHIP_BYTES,
      layouts.PIT_STATE_BYTES,
      layouts.CLOCK_DATA_BYTES,
    ]).to.deep.equal([416, 4096, 392, 128, 64, 520, 112, 48]);
  });

  it('reads kvm_msrs and kvm_msr_list buffers, and writes the TSC back first and its deadline last', () => {
    const buffer = layouts.msrReadBuffer([0x10, 0x6e0]);
    new DataView(buffer.buffer).setBigUint64(8 + 8, 123n, true);
    expect(layouts.decodeMsrs(buffer, 1)).to.deep.equal([{ index: 0x10, data: 123n }]);
    const list = layouts.msrListBuffer(3);
    new DataView(list.buffer).setUint32(4, 0x10, true);
    new DataView(list.buffer).setUint32(0, 1, true);
    expect(layouts.decodeMsrList(list)).to.deep.equal([0x10]);
    const order = msrRestoreOrder([
      { index: MSR_IA32_TSC_DEADLINE, data: 1n },
      { index: 0x174, data: 2n },
      { index: MSR_IA32_TSC, data: 3n },
    ]).map((m) => m.index);
    expect(order).to.deep.equal([MSR_IA32_TSC, 0x174, MSR_IA32_TSC_DEADLINE]);
    expect(layouts.clockNanoseconds(layouts.encodeClock(5_000_000_000n))).to.equal(5_000_000_000n);
  });
});

/** 64 KiB of RAM at 0, the guest's code at 0x1000, real mode. */
const MEMORY_BYTES = 0x10000;
const CODE_ADDRESS = 0x1000;
const COUNTER_PORT = 0x10;
/** inc bx; mov ax, bx; out COUNTER_PORT, al; jmp back to the inc (rel8 -7). */
const COUNTER_CODE = Uint8Array.of(0x43, 0x89, 0xd8, 0xe6, COUNTER_PORT, 0xeb, 0xf9);
const TSS_ADDRESS = 0xfffb_d000;
/** A kvmclock time page inside the guest's 64 KiB, bit 0 = enabled. */
const KVMCLOCK_PAGE = 0x5000n;

interface Machine {
  vm: VmFd;
  vcpu: VcpuFd;
  memory: Uint8Array;
}

/** A VM made the way mvm's builder makes one (irqchip, PIT, CPUID), with one vCPU in real mode. */
function createMachine(kvm: Kvm): Machine {
  const vm = kvm.createVm();
  vm.setTssAddress(TSS_ADDRESS);
  vm.createIrqchip();
  vm.createPit();
  const memory = new Uint8Array(vm.addAnonymousMemory(0, MEMORY_BYTES).buffer);
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid(kvm.supportedCpuid());
  return { vm, vcpu, memory };
}

/** The counter byte of the next port write. */
function nextCount(vcpu: VcpuFd): number {
  for (;;) {
    const exit = vcpu.runOnce();
    if (exit.kind === 'intr') continue;
    if (exit.kind !== 'io' || exit.port !== COUNTER_PORT) throw new Error(`unexpected exit ${exit.kind}`);
    return vcpu.run.ioData(exit)[0]!;
  }
}

/** What a vCPU thread does when asked to pause: a KVM_RUN with immediate_exit completes the last port write, then returns. */
function park(vcpu: VcpuFd): string {
  vcpu.run.immediateExit = true;
  const exit = vcpu.runOnce();
  vcpu.run.immediateExit = false;
  return exit.kind;
}

describeWithKvm(import.meta.url, 'KVM vCPU and VM state', function () {
  this.timeout(60_000);

  it('lists the MSRs KVM saves, the TSC and kvmclock among them', () => {
    const kvm = Kvm.open();
    const list = kvm.msrIndexList();
    expect(list).to.include(MSR_IA32_TSC);
    expect(list).to.include(MSR_KVM_SYSTEM_TIME_NEW);
    const { vcpu } = createMachine(kvm);
    const read = readMsrs(vcpu, list);
    expect(read.length).to.be.greaterThan(10);
    expect(read.map((m) => m.index)).to.include(MSR_IA32_TSC);
  });

  it('a counting guest saved mid-count goes on counting in a second VM, its registers, MSRs and TSC carried over', () => {
    const kvm = Kvm.open();
    const msrList = kvm.msrIndexList();
    const a = createMachine(kvm);
    a.memory.set(COUNTER_CODE, CODE_ADDRESS);
    a.vcpu.updateSregs((s) => ({ ...s, cs: { ...s.cs, base: 0, selector: 0 } }));
    a.vcpu.setRegs({ rip: CODE_ADDRESS, rflags: 0x2 });
    a.vcpu.setMsrs([
      { index: MSR_KVM_SYSTEM_TIME_NEW, data: KVMCLOCK_PAGE | 1n },
      { index: MSR_IA32_TSC, data: 1n << 40n },
    ]);
    expect([1, 2, 3, 4, 5].map(() => nextCount(a.vcpu))).to.deep.equal([1, 2, 3, 4, 5]);
    expect(park(a.vcpu)).to.equal('intr');

    const support = vcpuStateSupport(a.vm);
    const saved = saveVcpuState(a.vcpu, msrList, support);
    const savedVm = saveVmState(a.vm);
    const savedTsc = saved.msrs.find((m) => m.index === MSR_IA32_TSC)!.data;
    expect(savedTsc >= 1n << 40n).to.equal(true);

    const b = createMachine(kvm);
    b.memory.set(a.memory);
    restoreVmState(b.vm, savedVm);
    restoreVcpuState(b.vcpu, saved, support);

    const restored = saveVcpuState(b.vcpu, msrList, support);
    expect(restored.regs).to.deep.equal(saved.regs);
    expect(restored.sregs).to.deep.equal(saved.sregs);
    expect(restored.debugRegs).to.deep.equal(saved.debugRegs);
    expect(restored.mpState).to.equal(saved.mpState);
    if (saved.xcrs) expect(restored.xcrs).to.deep.equal(saved.xcrs);
    expect(restored.msrs.map((m) => m.index)).to.deep.equal(saved.msrs.map((m) => m.index));
    expect(restored.msrs.find((m) => m.index === MSR_KVM_SYSTEM_TIME_NEW)?.data).to.equal(KVMCLOCK_PAGE | 1n);
    // The TSC went on from the saved value, not from the second VM's own start at 0 (emulation is slow: allow a minute).
    const restoredTsc = restored.msrs.find((m) => m.index === MSR_IA32_TSC)!.data;
    const minute = BigInt(Math.max(saved.tscKhz, 1_000_000)) * 1000n * 60n;
    expect(restoredTsc >= savedTsc && restoredTsc < savedTsc + minute, `TSC ${restoredTsc} after ${savedTsc}`).to.equal(true);

    // Both go on from 5: the copy in the second VM, and the original.
    expect([nextCount(b.vcpu), nextCount(b.vcpu)]).to.deep.equal([6, 7]);
    expect(nextCount(a.vcpu)).to.equal(6);
  });

  it("carries the PICs, the IOAPIC's routing, the PIT's counters and the kvmclock into a second VM", () => {
    const kvm = Kvm.open();
    const a = createMachine(kvm);
    const ioapic = saveVmState(a.vm).ioapic.slice();
    // kvm_ioapic_state: redirtbl[24] (u64 each) from byte 24; pin 5 → vector 0x35, masked.
    new DataView(ioapic.buffer).setBigUint64(24 + 5 * 8, 0x1_0035n, true);
    a.vm.setIrqchip(ioctls.IrqchipId.IOAPIC, ioapic);
    const pit = a.vm.getPit();
    // kvm_pit_channel_state of channel 0: count (u32) at 0, rw_mode at 12, mode at 13.
    new DataView(pit.buffer).setUint32(0, 0x1234, true);
    pit[12] = 3;
    pit[13] = 2;
    a.vm.setPit(pit);
    a.vm.setClock(5_000_000_000n);
    const saved = saveVmState(a.vm);
    expect(saved.clockNs >= 5_000_000_000n).to.equal(true);

    const b = createMachine(kvm);
    restoreVmState(b.vm, saved);
    const restored = saveVmState(b.vm);
    expect(restored.picMaster).to.deep.equal(saved.picMaster);
    expect(restored.picSlave).to.deep.equal(saved.picSlave);
    expect(restored.ioapic).to.deep.equal(saved.ioapic);
    expect(new DataView(restored.ioapic.buffer).getBigUint64(24 + 5 * 8, true)).to.equal(0x1_0035n);
    expect(new DataView(restored.pit.buffer).getUint32(0, true)).to.equal(0x1234);
    expect([restored.pit[12], restored.pit[13]]).to.deep.equal([3, 2]);
    expect(restored.clockNs >= saved.clockNs && restored.clockNs < saved.clockNs + 60_000_000_000n).to.equal(true);
    expect(() => b.vm.setPit(new Uint8Array(10))).to.throw(RangeError);
  });
});
