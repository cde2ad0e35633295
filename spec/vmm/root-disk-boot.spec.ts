// `mvm run --initrd '' --disk images/out/rootfs.qcow2 -- CMD` boots the root
// disk with no other option: mvm adds root=/dev/vda rw init=/init
// devtmpfs.mount=0 itself (src/vmm/default-cmdline.ts). Run as a user runs
// it (inside the helper VM on hosts like PVM); a private runtime directory
// gives this spec its own helper VM, so no other command's helper is
// disturbed (or disturbs it).
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const ROOT_DISK = resolve(PROJECT_ROOT, 'images/out/rootfs.qcow2');
const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');

describe("booting the root disk with just --initrd '' --disk (end to end)", function () {
  // A cold helper VM ~20 s, the guest run 5-30 s under load.
  this.timeout(600_000);
  let dir: string;
  let env: Record<string, string>;

  before(() => {
    for (const file of [KERNEL, ROOT_DISK]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'mvm-rootdisk-default-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '120' };
  });

  after(async () => {
    if (env) await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets root=/dev/vda rw init=/init devtmpfs.mount=0 on its command line and / from vda, read-write', async () => {
    // mountinfo's third field is the MAJOR:MINOR of the filesystem mounted at its fifth; /sys/block/vda/dev is vda's.
    const script =
      'cat /proc/cmdline; echo ROOT-DEVICE=$(awk \'$5 == "/" { print $3 }\' /proc/self/mountinfo) VDA=$(cat /sys/block/vda/dev); ' +
      'echo ROOT-MOUNT=$(awk \'$2 == "/" { print $3, substr($4, 1, 2) }\' /proc/mounts)';
    const result = await runMvm(['run', '--initrd', '', '--disk', ROOT_DISK, '--', 'sh', '-c', script], { env, timeoutMs: 580_000 });
    const output = result.stdout + result.stderr;
    expect(result.status, output).to.equal(0);
    const cmdline = result.stdout.split('\n').find((line) => line.includes('mvm.cmd=')) ?? '';
    expect(cmdline.trim().split(/\s+/), output).to.include.members(['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0']);
    const devices = /^ROOT-DEVICE=(\d+:\d+) VDA=(\d+:\d+)\s*$/m.exec(result.stdout);
    expect(devices, output).to.not.equal(null);
    expect(devices![1], 'the device / is mounted from').to.equal(devices![2]);
    expect(result.stdout, output).to.match(/^ROOT-MOUNT=ext4 rw\s*$/m);
  });
});
