import { expect } from 'chai';
import { BootError } from '../../../src/arch/x86_64/boot-error.js';
import { filterCpuid } from '../../../src/arch/x86_64/cpuid.js';
import type { CpuidEntry } from '../../../src/kvm/structs.js';

function vendorLeaf(name: string): CpuidEntry {
  const view = new DataView(new TextEncoder().encode(name).buffer);
  return { function: 0, index: 0, flags: 0, eax: 0x1f, ebx: view.getUint32(0, true), edx: view.getUint32(4, true), ecx: view.getUint32(8, true) };
}

const leaf = (fn: number, index: number, regs: Partial<CpuidEntry>, flags = 0): CpuidEntry => ({
  function: fn,
  index,
  flags,
  eax: 0,
  ebx: 0,
  ecx: 0,
  edx: 0,
  ...regs,
});

/** A plausible KVM_GET_SUPPORTED_CPUID answer on an Intel host with 8 host threads. */
function intelSupported(): CpuidEntry[] {
  return [
    vendorLeaf('GenuineIntel'),
    // EBX: host APIC id 5, 16 logical, CLFLUSH 8, brand 0; ECX: VMX, PDCM, x2APIC, TSC-deadline, MONITOR; EDX: ACPI, HTT, TM, FPU.
    leaf(1, 0, { eax: 0x000906ea, ebx: 0x05100800, ecx: 0x7ffafbff, edx: 0xbfebfbff }),
    leaf(4, 0, { eax: 0x1c004121, ebx: 0x01c0003f }, 1), // L1d, 8 sharing on host
    leaf(4, 1, { eax: 0x1c004122 }, 1), // L1i
    leaf(4, 2, { eax: 0x1c004143 }, 1), // L2
    leaf(4, 3, { eax: 0x1c03c163 }, 1), // L3, shared by 16
    leaf(4, 4, { eax: 0 }, 1), // no more caches
    leaf(6, 0, { eax: 0x27f7, ecx: 0x9 }),
    leaf(7, 0, { ebx: 0x029c6fbf, ecx: 0x40000000 }, 1),
    leaf(0xa, 0, { eax: 0x07300404 }),
    leaf(0xb, 0, { eax: 1, ebx: 2, ecx: 0x100, edx: 5 }, 1),
    leaf(0xb, 1, { eax: 4, ebx: 8, ecx: 0x201, edx: 5 }, 1),
    leaf(0xb, 2, { ecx: 2, edx: 5 }, 1),
    leaf(0xb, 3, { ecx: 3, edx: 5 }, 1),
    leaf(0x8000_0001, 0, { ecx: 0x121, edx: 0x2c100800 }),
    leaf(0x8000_0008, 0, { eax: 0x3027, ecx: 0 }),
  ];
}

function amdSupported(): CpuidEntry[] {
  return [
    vendorLeaf('AuthenticAMD'),
    leaf(1, 0, { eax: 0x00830f10, ebx: 0x03100800, ecx: 0xf6d83203, edx: 0x178bfbff }),
    leaf(0xd, 0, { eax: 7, ebx: 0x340, ecx: 0x340 }, 1),
    leaf(0x8000_0001, 0, { ecx: 0x75c237ff, edx: 0x2fd3fbff }),
    leaf(0x8000_0008, 0, { eax: 0x3030, ecx: 0x1007f }), // PerfTscSize bits 17:16 = 1, 128 cores
    leaf(0x8000_001d, 0, { eax: 0x00004121 }, 1),
    leaf(0x8000_001d, 3, { eax: 0x0001c163 }, 1),
    leaf(0x8000_001e, 0, { eax: 0x13, ebx: 0x109, ecx: 0x300 }),
  ];
}

const find = (entries: CpuidEntry[], fn: number, index = 0) => {
  const e = entries.find((x) => x.function === fn && x.index === index);
  expect(e, `leaf ${fn.toString(16)}.${index}`).to.not.equal(undefined);
  return e!;
};

describe('arch/x86_64/cpuid', () => {
  describe('leaf 1', () => {
    it("carries this vCPU's APIC id and the package's logical count, keeping the low EBX bits", () => {
      const ebx = find(filterCpuid(intelSupported(), 2, 4), 1).ebx;
      expect(ebx >>> 24, 'initial APIC id').to.equal(2);
      expect((ebx >>> 16) & 0xff, 'logical processors').to.equal(4);
      expect(ebx & 0xffff, 'CLFLUSH size and brand kept').to.equal(0x0800);
    });

    it('rounds the logical count up to the APIC-id space (3 CPUs → 4 ids)', () => {
      expect((find(filterCpuid(intelSupported(), 0, 3), 1).ebx >>> 16) & 0xff).to.equal(4);
    });

    it('sets HTT only with more than one vCPU', () => {
      expect(find(filterCpuid(intelSupported(), 0, 2), 1).edx & (1 << 28)).to.not.equal(0);
      const single = find(filterCpuid(intelSupported(), 0, 1), 1);
      expect(single.edx & (1 << 28)).to.equal(0);
      expect((single.ebx >>> 16) & 0xff).to.equal(1);
    });

    it('announces the hypervisor and hides VMX, MONITOR, PDCM, ACPI and TM', () => {
      const { ecx, edx } = find(filterCpuid(intelSupported(), 0, 1), 1);
      expect(ecx >>> 31, 'hypervisor').to.equal(1);
      for (const bit of [3, 5, 15]) expect((ecx >>> bit) & 1, `ecx bit ${bit}`).to.equal(0);
      for (const bit of [22, 29]) expect((edx >>> bit) & 1, `edx bit ${bit}`).to.equal(0);
      expect((ecx >>> 21) & 1, 'x2APIC is emulated by KVM and kept').to.equal(1);
      expect(edx & 1, 'FPU kept').to.equal(1);
    });

    it('advertises the TSC-deadline timer only when asked', () => {
      expect((find(filterCpuid(intelSupported(), 0, 1), 1).ecx >>> 24) & 1).to.equal(0);
      expect((find(filterCpuid(intelSupported(), 0, 1, { tscDeadlineTimer: true }), 1).ecx >>> 24) & 1).to.equal(1);
    });
  });

  it('makes leaf 4 caches private up to L2 and shared at L3, with the package core count', () => {
    const out = filterCpuid(intelSupported(), 1, 4);
    const sharing = (i: number) => ((find(out, 4, i).eax >>> 14) & 0xfff) + 1;
    const cores = (i: number) => (find(out, 4, i).eax >>> 26) + 1;
    expect([sharing(0), sharing(1), sharing(2), sharing(3)]).to.deep.equal([1, 1, 1, 4]);
    expect(cores(0)).to.equal(4);
    expect(find(out, 4, 3).eax & 0x3fff, 'type and level kept').to.equal(0x0163);
    expect(find(out, 4, 4).eax, 'terminator untouched').to.equal(0);
  });

  it('hides power management (leaf 6) and the PMU (leaf 0xa)', () => {
    const out = filterCpuid(intelSupported(), 0, 2);
    for (const fn of [6, 0xa]) expect(find(out, fn), fn.toString(16)).to.include({ eax: 0, ebx: 0, ecx: 0, edx: 0 });
  });

  it('replaces leaf 0xb with SMT and core levels for N single-thread cores', () => {
    const out = filterCpuid(intelSupported(), 3, 6).filter((e) => e.function === 0xb);
    expect(out.map((e) => e.index)).to.deep.equal([0, 1, 2]);
    expect(
      out.every((e) => e.edx === 3 && e.flags === 1),
      'x2APIC id and significant index',
    ).to.equal(true);
    expect(out[0]).to.include({ eax: 0, ebx: 1, ecx: 0x100 });
    expect(out[1]).to.include({ eax: 3, ebx: 6, ecx: 0x201 });
    expect((out[2]!.ecx >>> 8) & 0xff, 'level type 0 ends the list').to.equal(0);
  });

  it('gives every vCPU the same package id from its APIC id and the core shift', () => {
    const cpus = 5;
    const packages = new Set<number>();
    for (let i = 0; i < cpus; i++) {
      const out = filterCpuid(intelSupported(), i, cpus);
      const shift = find(out, 0xb, 1).eax;
      packages.add((find(out, 1).ebx >>> 24) >>> shift);
      expect(find(out, 0xb, 0).edx).to.equal(i);
    }
    expect([...packages]).to.deep.equal([0]);
  });

  it('keeps leaves it has no opinion on, leaves Intel 0x80000008 alone and does not mutate its input', () => {
    const input = intelSupported();
    const snapshot = JSON.stringify(input);
    const out = filterCpuid(input, 0, 2);
    expect(JSON.stringify(input)).to.equal(snapshot);
    expect(find(out, 7)).to.deep.equal(find(input, 7));
    expect(find(out, 0x8000_0008)).to.deep.equal(find(input, 0x8000_0008));
    expect(find(out, 0x8000_0001)).to.deep.equal(find(input, 0x8000_0001));
  });

  describe('on AMD', () => {
    it('sets the core count and APIC-id size in 0x80000008, keeping other ECX bits', () => {
      const ecx = find(filterCpuid(amdSupported(), 0, 3), 0x8000_0008).ecx;
      expect(ecx & 0xff, 'NC = cores - 1').to.equal(2);
      expect((ecx >>> 12) & 0xf, 'ApicIdCoreIdSize').to.equal(2);
      expect((ecx >>> 16) & 3, 'PerfTscSize kept').to.equal(1);
    });

    it('sets CmpLegacy with several vCPUs so HTT counts cores, not threads', () => {
      expect(find(filterCpuid(amdSupported(), 0, 2), 0x8000_0001).ecx & 2).to.equal(2);
      expect(find(filterCpuid(amdSupported(), 0, 1), 0x8000_0001).ecx & 2).to.equal(0);
    });

    it('hides SVM (no nested virtualization)', () => {
      expect(find(amdSupported(), 0x8000_0001).ecx & 4, 'fixture has SVM').to.equal(4);
      expect(find(filterCpuid(amdSupported(), 0, 1), 0x8000_0001).ecx & 4).to.equal(0);
    });

    it('reports the extended APIC id and one thread per compute unit in 0x8000001e', () => {
      expect(find(filterCpuid(amdSupported(), 1, 2), 0x8000_001e)).to.include({ eax: 1, ebx: 1, ecx: 0, edx: 0 });
    });

    it('shares L3 (0x8000001d) across the package and keeps L1 private', () => {
      const out = filterCpuid(amdSupported(), 0, 4);
      expect((find(out, 0x8000_001d, 0).eax >>> 14) & 0xfff).to.equal(0);
      expect((find(out, 0x8000_001d, 3).eax >>> 14) & 0xfff).to.equal(3);
    });
  });

  it('refuses CPU counts and indexes it cannot describe', () => {
    expect(() => filterCpuid(intelSupported(), 0, 0)).to.throw(BootError);
    expect(() => filterCpuid(intelSupported(), 0, 255)).to.throw(BootError);
    expect(() => filterCpuid(intelSupported(), 2, 2)).to.throw(RangeError);
    expect(() => filterCpuid(intelSupported(), 253, 254)).to.not.throw();
    expect(find(filterCpuid(intelSupported(), 253, 254), 1).ebx >>> 24, 'APIC id survives a full count').to.equal(253);
  });
});
