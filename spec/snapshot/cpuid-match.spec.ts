// A snapshot restores only onto a host that gives its boot vCPU the same
// CPUID; the refusal names the first leaf and register that differ.
import { expect } from 'chai';
import type { CpuidEntry } from '../../src/kvm/structs.js';
import { requireSameCpuid } from '../../src/snapshot/cpuid-match.js';
import { SnapshotError } from '../../src/snapshot/snapshot-error.js';

const SAVED: CpuidEntry[] = [
  { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 1, ecx: 2, edx: 3 },
  { function: 7, index: 0, flags: 1, eax: 0, ebx: 0x2000_0000, ecx: 0, edx: 0 },
];

describe('snapshot CPUID match', () => {
  it('accepts the same leaves in any order', () => {
    expect(() => requireSameCpuid(SAVED, [SAVED[1]!, SAVED[0]!])).to.not.throw();
  });

  it('refuses a host that differs, naming the leaf and register, or a leaf missing on either side', () => {
    const changed = [SAVED[0]!, { ...SAVED[1]!, ebx: 0 }];
    expect(() => requireSameCpuid(SAVED, changed)).to.throw(SnapshotError, 'CPUID leaf 0x7.0 ebx is 0x0 here, 0x20000000 in the snapshot');
    expect(() => requireSameCpuid(SAVED, [SAVED[0]!])).to.throw(SnapshotError, 'it has no CPUID leaf 0x7.0');
    const extra = [...SAVED, { function: 0xd, index: 1, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 0 }];
    expect(() => requireSameCpuid(SAVED, extra)).to.throw(SnapshotError, 'it has CPUID leaf 0xd.1, which the snapshot');
  });
});
