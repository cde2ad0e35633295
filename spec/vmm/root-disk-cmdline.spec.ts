// rootDiskParameters: which root-disk parameters `mvm run --initrd '' --disk X`
// adds on its own, and when the user's own choices win.
import { expect } from 'chai';
import { ROOT_DISK_PARAMETERS, rootDiskParameters, type RootDiskChoice } from '../../src/vmm/default-cmdline.js';

const DISK_BOOT: RootDiskChoice = { initrd: false, disks: 1, replacedCommandLine: false, appended: [] };

describe('root-disk kernel parameters (rootDiskParameters)', () => {
  it('adds root=/dev/vda rw init=/init devtmpfs.mount=0 for a disk and no initramfs', () => {
    expect(rootDiskParameters(DISK_BOOT)).to.deep.equal(['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0']);
    expect(ROOT_DISK_PARAMETERS).to.deep.equal(['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0']);
  });

  it('adds nothing with an initramfs, without a disk, or when --boot-args replaced the command line', () => {
    expect(rootDiskParameters({ ...DISK_BOOT, initrd: true })).to.deep.equal([]);
    expect(rootDiskParameters({ ...DISK_BOOT, disks: 0 })).to.deep.equal([]);
    expect(rootDiskParameters({ ...DISK_BOOT, replacedCommandLine: true })).to.deep.equal([]);
  });

  it('adds nothing when the user gave root=, also inside a longer --append', () => {
    expect(rootDiskParameters({ ...DISK_BOOT, appended: ['root=/dev/vdb'] })).to.deep.equal([]);
    expect(rootDiskParameters({ ...DISK_BOOT, appended: ['quiet', 'root=/dev/vdb ro'] })).to.deep.equal([]);
  });

  it("keeps the user's own init= and ro instead of the defaults", () => {
    expect(rootDiskParameters({ ...DISK_BOOT, appended: ['init=/bin/sh'] })).to.deep.equal(['root=/dev/vda', 'rw', 'devtmpfs.mount=0']);
    expect(rootDiskParameters({ ...DISK_BOOT, appended: ['ro'] })).to.deep.equal(['root=/dev/vda', 'init=/init', 'devtmpfs.mount=0']);
    expect(rootDiskParameters({ ...DISK_BOOT, appended: ['devtmpfs.mount=1', 'ip=10.0.0.2'] })).to.deep.equal(['root=/dev/vda', 'rw', 'init=/init']);
  });
});
