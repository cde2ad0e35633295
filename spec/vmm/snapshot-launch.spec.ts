// The launch record a snapshot keeps (how its devices were set up on the
// host): written from a plan, read back into one, every field checked; disks
// come back as fresh overlays on the snapshot's frozen layers, read-only ones
// as themselves, and a missing layer is one line before anything starts.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyncDisk } from '../../src/disk/backend.js';
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
    const launch = JSON.parse(JSON.stringify(launchFromPlan(PLAN, []))) as unknown;
    const plan = planFromLaunch(launch, MACHINE, '/snaps/web');
    expect(plan).to.deep.equal({ ...PLAN, cmdline: MACHINE.cmdline, restoreFrom: '/snaps/web' });
  });

  it('records writable drives as layers in the snapshot and read-only ones by path; a restore overlays each layer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-launch-'));
    try {
      const disk = (path: string, format: 'raw' | 'qcow2'): SyncDisk => ({ path, format }) as SyncDisk;
      const launch = launchFromPlan(PLAN, [
        { disk: disk('/vm/overlay-0.qcow2', 'qcow2'), readOnly: false },
        { disk: disk('/images/data.raw', 'raw'), readOnly: true },
      ]);
      expect(launch.drives).to.deep.equal([{ layer: 'disk-0.qcow2' }, { readOnlyPath: '/images/data.raw' }]);
      const json = JSON.parse(JSON.stringify(launch)) as unknown;
      expect(() => planFromLaunch(json, MACHINE, dir)).to.throw(SnapshotError, `the snapshot's disk layer ${join(dir, 'disk-0.qcow2')} is missing`);
      writeFileSync(join(dir, 'disk-0.qcow2'), '');
      expect(planFromLaunch(json, MACHINE, dir).drives).to.deep.equal([
        { path: join(dir, 'disk-0.qcow2'), mode: 'overlay' },
        { path: '/images/data.raw', mode: 'ro' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a VM with shared folders: virtiofsd keeps state the snapshot cannot hold', () => {
    expect(() => launchFromPlan({ ...PLAN, shares: [{ path: '/srv/data', tag: 'data', readOnly: false }] }, [])).to.throw(
      SnapshotError,
      /shared folders/,
    );
  });

  it('refuses a record whose fields do not hold up, naming the field', () => {
    const good = launchFromPlan(PLAN, []) as Record<string, unknown>;
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
      [{ ...good, drives: {} }, /drives/],
      [{ ...good, drives: [{ layer: '../../etc/passwd' }] }, /drives\[0\]\.layer/],
      [{ ...good, drives: [{ readOnlyPath: 'rel.img' }] }, /drives\[0\]\.readOnlyPath/],
    ];
    for (const [value, message] of cases) expect(() => planFromLaunch(value, MACHINE, '/s'), String(message)).to.throw(SnapshotError, message);
  });
});
