// Detection of the host's KVM kind from fixture texts, and the decision
// whether a Linux guest must run inside the helper VM.
import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { classifyHostKvm, cpuVirtualizationFeature, decideHelper, helperPolicy, type HostKvmFacts } from '../../src/helper/host-kvm.js';

// Trimmed /proc/cpuinfo texts: two CPUs each, as the kernel prints them.
const AMD_WITH_SVM = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat svm extapic cr8_legacy abm
bugs\t\t: sysret_ss_attrs

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat svm extapic cr8_legacy abm
`;
const INTEL_WITH_VMX = `processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep vmx smx est tm2 ssse3
vmx flags\t: vnmi preemption_timer invvpid ept_x_only ept_ad
`;
// This project's machines: an EPYC guest of a hypervisor, no svm, PVM KVM.
const PVM_GUEST_CPU = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov hypervisor lahf_lm cmp_legacy
`;
// "svm" inside another word must not count.
const LOOKALIKE = `flags\t\t: fpu svm_lock_bit nosvm vmxoff\n`;

function facts(over: Partial<HostKvmFacts>): HostKvmFacts {
  return { cpuinfo: AMD_WITH_SVM, devKvmExists: true, devKvmAccessible: true, pvmModuleLoaded: false, kvmModuleLoaded: true, ...over };
}

describe('helper/host-kvm', () => {
  describe('cpuVirtualizationFeature', () => {
    it('finds svm on AMD and vmx on Intel', () => {
      expect(cpuVirtualizationFeature(AMD_WITH_SVM)).to.equal('svm');
      expect(cpuVirtualizationFeature(INTEL_WITH_VMX)).to.equal('vmx');
    });
    it('finds nothing on a guest CPU without nested virtualization', () => {
      expect(cpuVirtualizationFeature(PVM_GUEST_CPU)).to.equal(null);
    });
    it('matches whole flags only, and only on flags lines', () => {
      expect(cpuVirtualizationFeature(LOOKALIKE)).to.equal(null);
      expect(cpuVirtualizationFeature('model name\t: svm vmx\n')).to.equal(null);
      expect(cpuVirtualizationFeature('')).to.equal(null);
    });
  });

  describe('classifyHostKvm', () => {
    it('hardware when the CPU has svm or vmx and /dev/kvm exists', () => {
      expect(classifyHostKvm(facts({})).kind).to.equal('hardware');
      expect(classifyHostKvm(facts({ cpuinfo: INTEL_WITH_VMX })).kind).to.equal('hardware');
    });
    it('pvm when kvm_pvm is loaded, whatever the flags say', () => {
      expect(classifyHostKvm(facts({ cpuinfo: PVM_GUEST_CPU, pvmModuleLoaded: true })).kind).to.equal('pvm');
      expect(classifyHostKvm(facts({ pvmModuleLoaded: true })).kind).to.equal('pvm');
    });
    it('no-hw-virt for a /dev/kvm without vmx/svm that is not PVM', () => {
      expect(classifyHostKvm(facts({ cpuinfo: PVM_GUEST_CPU })).kind).to.equal('no-hw-virt');
    });
    it('absent without /dev/kvm', () => {
      const kvm = classifyHostKvm(facts({ devKvmExists: false, devKvmAccessible: false }));
      expect(kvm.kind).to.equal('absent');
      expect(kvm.cpuFeature).to.equal('svm');
      expect(kvm.absentBecause).to.match(/KVM modules are loaded but made no device \(check dmesg for kvm_amd\)/);
      expect(classifyHostKvm(facts({ devKvmExists: false, kvmModuleLoaded: false })).absentBecause).to.equal(
        'no KVM module is loaded (modprobe kvm_amd)',
      );
    });
    it('explains an absent /dev/kvm on a host that is itself a PVM guest, or a VM without nested virtualization', () => {
      const pvmGuest = classifyHostKvm(facts({ devKvmExists: false, devKvmAccessible: false, cpuinfo: PVM_GUEST_CPU, pvmModuleLoaded: true }));
      expect(pvmGuest.kind).to.equal('absent');
      expect(pvmGuest.absentBecause).to.match(/itself a PVM guest of a hypervisor that does not expose KVM/);
      const plainGuest = classifyHostKvm(facts({ devKvmExists: false, cpuinfo: PVM_GUEST_CPU, kvmModuleLoaded: false }));
      expect(plainGuest.absentBecause).to.match(/itself a virtual machine whose hypervisor passes no VT-x\/AMD-V through/);
      expect(classifyHostKvm(facts({ cpuinfo: PVM_GUEST_CPU, pvmModuleLoaded: true })).absentBecause).to.equal(undefined);
    });
    it('reports a /dev/kvm this user cannot open', () => {
      const kvm = classifyHostKvm(facts({ devKvmAccessible: false }));
      expect(kvm.kind).to.equal('hardware');
      expect(kvm.accessible).to.equal(false);
    });
  });

  describe('helperPolicy', () => {
    it('defaults to auto and accepts the three values in any case', () => {
      expect(helperPolicy({})).to.equal('auto');
      expect(helperPolicy({ MVM_HELPER: 'Always' })).to.equal('always');
      expect(helperPolicy({ MVM_HELPER: 'never' })).to.equal('never');
    });
    it('refuses anything else with a UserError', () => {
      expect(() => helperPolicy({ MVM_HELPER: 'sometimes' })).to.throw(UserError, /auto, always or never/);
    });
  });

  describe('decideHelper', () => {
    const pvm = classifyHostKvm(facts({ cpuinfo: PVM_GUEST_CPU, pvmModuleLoaded: true }));
    const hardware = classifyHostKvm(facts({}));
    const absent = classifyHostKvm(facts({ devKvmExists: false }));

    it('uses the helper on PVM and on hosts without /dev/kvm, with a one-line notice', () => {
      const decision = decideHelper(pvm, 'auto', false);
      expect(decision.useHelper).to.equal(true);
      expect(decision.notice).to.equal("mvm: this host's KVM (PVM) cannot run Linux guests; running inside the helper VM");
      expect(decision.notice).not.to.include('\n');
      expect(decideHelper(absent, 'auto', false).useHelper).to.equal(true);
    });
    it('runs directly on hardware virtualization', () => {
      expect(decideHelper(hardware, 'auto', false).useHelper).to.equal(false);
    });
    it('MVM_HELPER=always forces the helper even on hardware', () => {
      expect(decideHelper(hardware, 'always', false).useHelper).to.equal(true);
    });
    it('MVM_HELPER=never on PVM runs directly, with a notice saying what that means', () => {
      const decision = decideHelper(pvm, 'never', false);
      expect(decision.useHelper).to.equal(false);
      expect(decision.notice).to.match(/MVM_HELPER=never.*PVM/);
    });
    it('never recurses inside the helper, whatever the policy', () => {
      expect(decideHelper(pvm, 'always', true).useHelper).to.equal(false);
      expect(decideHelper(pvm, 'never', true).useHelper).to.equal(false);
    });
  });
});
