import { expect } from 'chai';
import { configureLapicLints } from '../../../src/arch/x86_64/lapic.js';

describe('arch/x86_64/lapic', () => {
  it('sets LINT0 to ExtINT and LINT1 to NMI, keeping the other LVT bits and registers', () => {
    const state = new Uint8Array(0x400);
    const view = new DataView(state.buffer);
    view.setUint32(0x350, 0x0001_0000, true); // masked, fixed mode (KVM's reset value)
    view.setUint32(0x360, 0x0001_0200, true); // masked, SMI mode
    view.setUint32(0x20, 0x0100_0000, true); // APIC id register
    const out = new DataView(configureLapicLints(state).buffer);
    expect(out.getUint32(0x350, true)).to.equal(0x0001_0700);
    expect(out.getUint32(0x360, true)).to.equal(0x0001_0400);
    expect(out.getUint32(0x20, true)).to.equal(0x0100_0000);
    expect(view.getUint32(0x350, true), 'input untouched').to.equal(0x0001_0000);
  });

  it('refuses a buffer that is not a kvm_lapic_state', () => {
    expect(() => configureLapicLints(new Uint8Array(16))).to.throw(RangeError, /1024 bytes/);
  });
});
