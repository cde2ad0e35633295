// The launch record a snapshot keeps (how its devices were set up on the
// host): written from a plan, read back into one, every field checked; a VM
// with disks is refused until disk layers exist.
import { expect } from 'chai';
import { SnapshotError } from '../../src/snapshot/snapshot-error.js';
import { launchFromPlan, planFromLaunch } from '../../src/vmm/snapshot-launch.js';
import type { VmPlan } from '../../src/vmm/vm-assembly.js';

const PLAN: VmPlan = {
  console: 'virtio',
  kernelPath: '/k/vmlinux',
  initrdPath: '/k/initramfs.cpio.gz',
  memoryBytes: 256 << 20,
  cpus: 2,
  cmdline: 'console=hvc0',
  drives: [],
  shares: [],
  nets: [{ tap: 'tap0', mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56) }],
  vsock: { cid: 7, uds: '/tmp/v.sock' },
  rng: true,
};
const MACHINE = { memoryBytes: 256 << 20, cpus: 2, cmdline: 'virtio_mmio.device=4K@0xd0000000:5 console=hvc0' };

describe('snapshot launch record', () => {
  it('goes from a plan to JSON and back, the machine and the snapshot directory from the snapshot', () => {
    const launch = JSON.parse(JSON.stringify(launchFromPlan(PLAN))) as unknown;
    const plan = planFromLaunch(launch, MACHINE, '/snaps/web');
    expect(plan).to.deep.equal({ ...PLAN, cmdline: MACHINE.cmdline, restoreFrom: '/snaps/web' });
  });

  it('refuses a VM with disks: clones writing one overlay would corrupt it', () => {
    expect(() => launchFromPlan({ ...PLAN, drives: [{ path: '/d.qcow2', mode: 'overlay' }] })).to.throw(SnapshotError, /disks/);
  });

  it('refuses a VM with shared folders: virtiofsd keeps state the snapshot cannot hold', () => {
    expect(() => launchFromPlan({ ...PLAN, shares: [{ path: '/srv/data', tag: 'data', readOnly: false }] })).to.throw(
      SnapshotError,
      /shared folders/,
    );
  });

  it('refuses a record whose fields do not hold up, naming the field', () => {
    const good = launchFromPlan(PLAN) as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [null, /top level/],
      [{ ...good, console: 'vga' }, /console/],
      [{ ...good, kernelPath: 'vmlinux' }, /kernel path/],
      [{ ...good, initrdPath: 3 }, /initrd path/],
      [{ ...good, nets: [{ tap: 'a-name-longer-than-15', mac: '52:54:00:12:34:56' }] }, /nets\[0\]\.tap/],
      [{ ...good, nets: [{ tap: 'tap0', mac: '52:54:00:12:34' }] }, /nets\[0\]\.mac/],
      [{ ...good, vsock: { cid: 2, uds: '/tmp/v.sock' } }, /vsock\.cid/],
      [{ ...good, vsock: { cid: 7, uds: 'relative.sock' } }, /vsock\.uds/],
      [{ ...good, rng: 'yes' }, /rng/],
    ];
    for (const [value, message] of cases) expect(() => planFromLaunch(value, MACHINE, '/s'), String(message)).to.throw(SnapshotError, message);
  });
});
