import { expect } from 'chai';
import { bootMsrs } from '../../../src/arch/x86_64/msrs.js';

describe('arch/x86_64/msrs', () => {
  const msrs = new Map(bootMsrs().map((m) => [m.index, m.data]));

  it('clears the SYSENTER and SYSCALL MSRs Linux programs itself', () => {
    for (const index of [0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102]) {
      expect(msrs.get(index), index.toString(16)).to.equal(0);
    }
  });

  it('zeroes the TSC, enables fast strings and write-back MTRRs', () => {
    expect(msrs.get(0x10)).to.equal(0);
    expect(Number(msrs.get(0x1a0)) & 1).to.equal(1);
    expect(msrs.get(0x2ff)).to.equal(0x806);
  });

  it('lists each MSR once', () => {
    expect(msrs.size).to.equal(bootMsrs().length);
  });
});
