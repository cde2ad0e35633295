// vm.json both ways (src/fleet/vm-record.ts): the plan a VM is launched with
// becomes a record and back, with overlays standing in for their bases; a
// record edited into nonsense is refused field by field.
import { expect } from 'chai';
import { BadRecord, checkVmRecord, planFromRecord, recordFromPlan } from '../../src/fleet/vm-record.js';
import type { VmPlan } from '../../src/vmm/vm-assembly.js';

const PLAN: VmPlan = {
  console: 'virtio',
  kernelPath: '/img/vmlinux',
  initrdPath: '/img/initramfs.cpio.gz',
  memoryBytes: 128 * 2 ** 20,
  cpus: 2,
  cmdline: 'console=hvc0 quiet',
  drives: [
    { path: '/img/base.qcow2', mode: 'overlay' },
    { path: '/img/data.qcow2', mode: 'persistent' },
    { path: '/img/ro.raw', mode: 'ro' },
  ],
  nets: [{ tap: 'tap0', mac: Uint8Array.of(0x02, 0, 0, 0xab, 0xcd, 0xef) }],
  vsock: { cid: 3, uds: '/tmp/v.sock' },
  rng: true,
  shares: [{ path: '/srv/data', tag: 'data', readOnly: true, mountPoint: '/data' }],
};

describe('vm.json records', () => {
  const record = recordFromPlan(
    PLAN,
    'web',
    ['/run/vms/web/overlay-0.qcow2', undefined, undefined],
    '/etc/web.ini',
    new Date('2026-11-23T23:00:00Z'),
  );

  it('records the plan, with the overlay of each overlay drive and the MAC as text', () => {
    expect(record).to.deep.include({ name: 'web', createdAt: '2026-11-23T23:00:00.000Z', cpus: 2, kernel: '/img/vmlinux', config: '/etc/web.ini' });
    expect(record.drives).to.deep.equal([
      { path: '/img/base.qcow2', mode: 'overlay', overlay: '/run/vms/web/overlay-0.qcow2' },
      { path: '/img/data.qcow2', mode: 'persistent' },
      { path: '/img/ro.raw', mode: 'ro' },
    ]);
    expect(record.nets).to.deep.equal([{ tap: 'tap0', mac: '02:00:00:ab:cd:ef' }]);
  });

  it('turns back into the plan, booting the overlay file in place of its base', () => {
    const plan = planFromRecord(checkVmRecord(JSON.parse(JSON.stringify(record)), 'web'));
    expect(plan.drives).to.deep.equal([
      { path: '/run/vms/web/overlay-0.qcow2', mode: 'persistent' },
      { path: '/img/data.qcow2', mode: 'persistent' },
      { path: '/img/ro.raw', mode: 'ro' },
    ]);
    expect([...plan.nets[0]!.mac]).to.deep.equal([...PLAN.nets[0]!.mac]);
    expect(plan).to.deep.include({
      kernelPath: '/img/vmlinux',
      initrdPath: '/img/initramfs.cpio.gz',
      cmdline: PLAN.cmdline,
      cpus: 2,
      rng: true,
      vsock: PLAN.vsock,
    });
    expect(plan.shares).to.deep.equal(PLAN.shares);
  });

  for (const [field, change] of [
    ['name', { name: 'other' }],
    ['cpus', { cpus: 0 }],
    ['memoryBytes', { memoryBytes: '1G' }],
    ['kernel', { kernel: 'relative/vmlinux' }],
    ['console', { console: 'vga' }],
    ['drives[0].mode', { drives: [{ path: '/a', mode: 'rw' }] }],
    ['drives[0].overlay', { drives: [{ path: '/a', mode: 'overlay' }] }],
    ['nets[0].tap', { nets: [{ tap: 'a;b', mac: '02:00:00:00:00:01' }] }],
    ['nets[0].mac', { nets: [{ tap: 't', mac: 'zz' }] }],
    ['vsock', { vsock: { cid: 3 } }],
    ['rng', { rng: 'yes' }],
    ['shares[0].path', { shares: [{ path: 'rel', tag: 't', readOnly: false }] }],
    ['shares[0].tag', { shares: [{ path: '/a', tag: 'a b', readOnly: false }] }],
    ['shares[0].readOnly', { shares: [{ path: '/a', tag: 't', readOnly: 'yes' }] }],
    ['shares[0].mountPoint', { shares: [{ path: '/a', tag: 't', readOnly: false, mountPoint: '/a b' }] }],
  ] as const) {
    it(`refuses a record whose ${field} is invalid, naming it`, () => {
      expect(() => checkVmRecord({ ...JSON.parse(JSON.stringify(record)), ...change }, 'web')).to.throw(BadRecord, field);
    });
  }

  it('refuses what is not a record at all', () => {
    for (const value of [null, [], 'vm', 42]) expect(() => checkVmRecord(value, 'web')).to.throw(BadRecord);
  });
});
