// Booting from the ext4 root disk (images/build-rootdisk.sh) instead of the
// initramfs, through `mvm run --disk` exactly as a user runs it (inside the
// helper VM on PVM hosts). A private runtime directory gives this spec its
// own helper VM, so no other command's helper is disturbed (or disturbs it).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const ROOT_DISK = resolve(PROJECT_ROOT, 'images/out/rootfs.qcow2');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
/** The kernel parameters that boot mvm's init from the disk (see images/build-rootdisk.sh). */
const ROOT_DISK_PARAMETERS = ['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0'];
/** A status no success path produces, so seeing it proves the guest's own status came back. */
const GUEST_STATUS = 42;

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('booting from the ext4 root disk (end to end)', function () {
  // A cold helper VM ~20 s, the guest run 5-30 s under load.
  this.timeout(600_000);
  let dir: string;
  let env: Record<string, string>;

  before(() => {
    for (const file of [KERNEL, ROOT_DISK, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'mvm-rootdisk-e2e-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '120' };
  });

  after(async () => {
    if (env) await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a valid qcow2 image', () => {
    const check = spawnSync('qemu-img', ['check', ROOT_DISK], { encoding: 'utf8' });
    expect(check.error, 'qemu-img (qemu-utils) must be installed').to.equal(undefined);
    expect(check.status, check.stdout + check.stderr).to.equal(0);
  });

  it('holds the same files as the initramfs (read by qemu-img and debugfs, not by mvm)', () => {
    const raw = join(dir, 'rootfs.raw');
    const converted = spawnSync('qemu-img', ['convert', '-O', 'raw', ROOT_DISK, raw], { encoding: 'utf8' });
    expect(converted.status, converted.stderr).to.equal(0);
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    // rdump copies directories, files and symbolic links; device nodes are checked with ls below.
    const dumped = spawnSync('debugfs', ['-R', `rdump / ${tree}`, raw], { encoding: 'utf8' });
    expect(dumped.error, 'debugfs (e2fsprogs) must be installed').to.equal(undefined);
    const onDisk = (readdirSync(tree, { recursive: true }) as string[]).filter((name) => name !== 'lost+found');
    const devices = spawnSync('debugfs', ['-R', 'ls -l /dev', raw], { encoding: 'utf8' }).stdout;
    expect(devices).to.match(/\s20600\s.*\sconsole\s*$/m);
    expect(devices).to.match(/\s20600\s.*\smem\s*$/m);
    const listed = spawnSync('sh', ['-c', 'gunzip -c "$1" | cpio -it --quiet', 'sh', INITRD], { encoding: 'utf8' });
    expect(listed.status, listed.stderr).to.equal(0);
    const inInitramfs = listed.stdout.split('\n').filter((name) => name !== '' && name !== 'dev/console' && name !== 'dev/mem');
    expect([...onDisk].sort()).to.deep.equal([...inInitramfs].sort());
    expect(sha256(join(tree, 'init'))).to.equal(sha256(resolve(PROJECT_ROOT, 'firmware/init/init')));
    expect(sha256(join(tree, 'bin/busybox'))).to.equal(sha256('/bin/busybox'));
  });

  it('boots without an initramfs, writes to / on the throw-away overlay, passes the exit status back; the image is unchanged', async () => {
    const baseHash = sha256(ROOT_DISK);
    const script = [
      'set -e',
      'echo ROOT=$(awk \'$2 == "/" { print $1, $3, substr($4, 1, 2) }\' /proc/mounts)',
      'echo written-on-the-root > /written-by-the-guest',
      'sync',
      'echo READ-BACK=$(cat /written-by-the-guest)',
      `exit ${GUEST_STATUS}`,
    ].join('; ');
    const args = ['run', '--initrd', '', '--disk', ROOT_DISK];
    for (const parameter of ROOT_DISK_PARAMETERS) args.push('--append', parameter);
    const result = await runMvm([...args, '--', 'sh', '-c', script], { env, timeoutMs: 580_000 });
    const output = result.stdout + result.stderr;
    // /dev/root is how the kernel names the device it mounted from root=; an initramfs root would be rootfs.
    expect(result.stdout, output).to.match(/^ROOT=\/dev\/root ext4 rw\s*$/m);
    expect(result.stdout, output).to.match(/^READ-BACK=written-on-the-root\s*$/m);
    // The init's own mounts all worked (no kernel-mounted devtmpfs in the way).
    expect(output).not.to.match(/mount: .* failed/);
    expect(result.status, output).to.equal(GUEST_STATUS);
    expect(sha256(ROOT_DISK), 'the base rootfs.qcow2').to.equal(baseHash);
  });
});
