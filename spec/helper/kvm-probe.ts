// Run inside the helper VM by the end-to-end spec: opens /dev/kvm through
// mvm's own KVM layer (which checks KVM_GET_API_VERSION), creates a VM, and
// prints what it found as one JSON line.
import { Kvm } from '../../src/kvm/system.js';
import { Capability } from '../../src/kvm/ioctls.js';

const kvm = Kvm.open();
const vm = kvm.createVm();
process.stdout.write(
  `${JSON.stringify({
    opened: true,
    irqchip: kvm.checkExtension(Capability.IRQCHIP) > 0,
    maxVcpus: kvm.maxVcpus(),
    vmCreated: vm !== null,
  })}\n`,
);
