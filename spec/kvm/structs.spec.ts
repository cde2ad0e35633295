import { expect } from 'chai';
import * as ioctls from '../../src/kvm/ioctls.js';
import {
  REGS_SIZE,
  SREGS_SIZE,
  VCPU_EVENTS_SIZE,
  decodeCpuid,
  decodeVcpuEvents,
  decodeRegs,
  decodeSregs,
  encodeCpuid,
  encodeMemoryRegion,
  encodeMsrs,
  encodeRegs,
  encodeSregs,
} from '../../src/kvm/structs.js';
import { RunPage } from '../../src/kvm/vcpu-exit.js';

describe('KVM ioctl numbers and struct layouts', () => {
  it('match the values <linux/kvm.h> produces on x86_64', () => {
    // Reference values as printed by a C program including <linux/kvm.h>.
    expect(ioctls.KVM_GET_API_VERSION).to.equal(0xae00);
    expect(ioctls.KVM_CREATE_VM).to.equal(0xae01);
    expect(ioctls.KVM_GET_SUPPORTED_CPUID).to.equal(0xc008ae05);
    expect(ioctls.KVM_SET_USER_MEMORY_REGION).to.equal(0x4020ae46);
    expect(ioctls.KVM_RUN).to.equal(0xae80);
    expect(ioctls.KVM_GET_REGS).to.equal(0x8090ae81);
    expect(ioctls.KVM_SET_SREGS).to.equal(0x4138ae84);
    expect(ioctls.KVM_IRQ_LINE).to.equal(0x4008ae61);
    expect(ioctls.KVM_CREATE_PIT2).to.equal(0x4040ae77);
    expect(ioctls.KVM_SET_CPUID2).to.equal(0x4008ae90);
    expect(ioctls.KVM_GET_LAPIC).to.equal(0x8400ae8e);
    expect(ioctls.KVM_IOEVENTFD).to.equal(0x4040ae79);
    expect(ioctls.KVM_GET_MP_STATE).to.equal(0x8004ae98);
    expect(ioctls.KVM_GET_VCPU_EVENTS).to.equal(0x8040ae9f);
  });

  it('reads the NMI state out of kvm_vcpu_events (nmi.injected at 12, nmi.pending at 13)', () => {
    const bytes = new Uint8Array(VCPU_EVENTS_SIZE);
    expect(VCPU_EVENTS_SIZE).to.equal(64);
    bytes[14] = 1; // nmi.masked: no NMI to come
    expect(decodeVcpuEvents(bytes).nmiPendingOrInjected).to.equal(false);
    bytes[13] = 1;
    expect(decodeVcpuEvents(bytes).nmiPendingOrInjected).to.equal(true);
    bytes[13] = 0;
    bytes[12] = 1;
    expect(decodeVcpuEvents(bytes).nmiPendingOrInjected).to.equal(true);
  });

  it('round-trips kvm_regs, including values above 2^53', () => {
    const bytes = encodeRegs({ rip: 0xffff_ffff_8100_0000n, rsi: 0x7000, rflags: 2 });
    expect(bytes.length).to.equal(REGS_SIZE);
    const regs = decodeRegs(bytes);
    expect(regs.rip).to.equal(0xffff_ffff_8100_0000n);
    expect(regs.rsi).to.equal(0x7000n);
    expect(regs.rflags).to.equal(2n);
    expect(regs.rax).to.equal(0n);
  });

  it('round-trips kvm_sregs and keeps the bytes it does not model', () => {
    const base = new Uint8Array(SREGS_SIZE).fill(0xee);
    const seg = { base: 0, limit: 0xffffffff, selector: 0x10, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
    const sregs = {
      cs: seg,
      ds: seg,
      es: seg,
      fs: seg,
      gs: seg,
      ss: seg,
      tr: seg,
      ldt: seg,
      gdt: { base: 0x500, limit: 0x2f },
      idt: { base: 0x530, limit: 0 },
      cr0: 0x80000011,
      cr2: 0,
      cr3: 0x9000,
      cr4: 0x20,
      cr8: 0,
      efer: 0x500,
      apic_base: 0xfee00900,
    };
    const bytes = encodeSregs(sregs, base);
    const back = decodeSregs(bytes);
    expect(back.cs.selector).to.equal(0x10);
    expect(back.cs.l).to.equal(1);
    expect(back.gdt).to.deep.equal({ base: 0x500n, limit: 0x2f });
    expect(back.cr3).to.equal(0x9000n);
    expect(back.efer).to.equal(0x500n);
    // interrupt_bitmap (the last 32 bytes) is KVM's and must survive.
    expect([...bytes.subarray(SREGS_SIZE - 32)].every((b) => b === 0xee)).to.equal(true);
  });

  it('lays out kvm_userspace_memory_region, kvm_msrs and kvm_cpuid2', () => {
    const region = new DataView(encodeMemoryRegion(2, 1, 0x1_0000_0000, 0x4000, 0x7f00_0000_0000n).buffer);
    expect(region.getUint32(0, true)).to.equal(2);
    expect(region.getBigUint64(8, true)).to.equal(0x1_0000_0000n);
    expect(region.getBigUint64(24, true)).to.equal(0x7f00_0000_0000n);
    const msrs = new DataView(
      encodeMsrs([
        { index: 0x10, data: 5 },
        { index: 0xc0000081, data: 7n },
      ]).buffer,
    );
    expect(msrs.getUint32(0, true)).to.equal(2);
    expect(msrs.getUint32(24, true)).to.equal(0xc0000081);
    expect(msrs.getBigUint64(32, true)).to.equal(7n);
    const entries = [{ function: 1, index: 0, flags: 0, eax: 1, ebx: 2, ecx: 0x80000000, edx: 4 }];
    expect(decodeCpuid(encodeCpuid(entries))).to.deep.equal(entries);
  });

  it('decodes kvm_run exits and refuses I/O data outside the page', () => {
    const page = new ArrayBuffer(4096);
    const view = new DataView(page);
    view.setUint32(8, 2, true); // KVM_EXIT_IO
    view.setUint8(32, 1);
    view.setUint8(33, 1);
    view.setUint16(34, 0x3f8, true);
    view.setUint32(36, 1, true);
    view.setBigUint64(40, 4095n, true);
    const run = new RunPage(page);
    const exit = run.decode();
    expect(exit).to.deep.include({ kind: 'io', port: 0x3f8, isWrite: true, size: 1, count: 1 });
    if (exit.kind !== 'io') throw new Error('unreachable');
    expect(run.ioData(exit).length).to.equal(1);
    expect(() => run.ioData({ ...exit, count: 2 })).to.throw(RangeError);
    view.setUint32(8, 17, true); // KVM_EXIT_INTERNAL_ERROR with a lying ndata
    view.setUint32(32, 1, true);
    view.setUint32(36, 0xffff_ffff, true);
    const internal = run.decode();
    expect(internal.kind).to.equal('internal-error');
    if (internal.kind === 'internal-error') expect(internal.data.length).to.equal(16);
  });
});
