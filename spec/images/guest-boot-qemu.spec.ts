// The guest kernel and initramfs booted under QEMU (software emulation, no
// KVM needed): the init runs the mvm.cmd= command or an interactive shell and
// then ends the VM with the right exit status. QEMU lacks mvm's guest-signal
// device, so the status is read from the init's fallback message.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES_DIR, IMAGES_OUT } from './paths.js';
import { QemuGuest } from './qemu-guest.js';

const KERNEL = path.join(IMAGES_OUT, 'vmlinux');
/** The command line mvm passes, minus its virtio devices. */
const BASE_CMDLINE = 'console=ttyS0 reboot=k panic=1 quiet';
/** The init's message when no VMM took its power-off request. */
const fallback = (status: number) => new RegExp(`no power-off device answered \\(exit status ${status}\\)`);
/** A boot, the command and the reset under TCG; QemuGuest bounds each wait on its own. */
const BOOT_TIMEOUT_MS = 120_000;

describe('guest kernel + initramfs booted under QEMU TCG', function () {
  this.timeout(BOOT_TIMEOUT_MS);
  let dir: string;
  let initrd: string;
  let guest: QemuGuest | undefined;

  before(() => {
    if (!fs.existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: run \`make kernel\` first`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-boot-'));
    initrd = path.join(dir, 'initramfs.cpio.gz');
    execFileSync(path.join(IMAGES_DIR, 'build-rootfs.sh'), [initrd], { stdio: 'pipe' });
  });
  afterEach(() => guest?.kill());
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const encode = (command: string) => Buffer.from(command, 'utf8').toString('base64');

  it('runs mvm.cmd= with 2 CPUs, prints its output and powers off with its status', async () => {
    const command =
      'echo "host=$(hostname) cpus=$(grep -c ^processor /proc/cpuinfo)"; mount | grep -c -e devtmpfs -e proc -e sysfs -e tmpfs; ip -o link show lo; exit 7';
    guest = new QemuGuest(KERNEL, initrd, `${BASE_CMDLINE} mvm.cmd=${encode(command)}`, 2);
    await guest.waitFor(fallback(7));
    expect(guest.console).to.contain('host=mvm cpus=2');
    expect(guest.console).to.match(/^4\r?$/m);
    expect(guest.console).to.match(/lo: <LOOPBACK,UP/);
    expect(await guest.exited()).to.equal(0);
  });

  it('still powers off (status 137) when the command kills every other process', async () => {
    guest = new QemuGuest(KERNEL, initrd, `${BASE_CMDLINE} mvm.cmd=${encode('kill -9 -1; exit 0')}`);
    await guest.waitFor(fallback(137));
    expect(guest.console).to.contain('the console session was killed');
    expect(await guest.exited()).to.equal(0);
  });

  it('gives an interactive shell with job control; Ctrl-C stops a program; exit N powers off with N', async () => {
    guest = new QemuGuest(KERNEL, initrd, BASE_CMDLINE);
    await guest.waitFor(/ends the VM/);
    let mark = guest.console.length;
    guest.type('echo "answer=$((6 * 7))"\n');
    await guest.waitFor(/answer=42/, mark);

    mark = guest.console.length;
    guest.type('echo started; sleep 1000\n');
    await guest.waitFor(/\nstarted\r?\n/, mark);
    // Give the shell a moment to exec sleep, then interrupt it as a user would.
    await new Promise((resolve) => setTimeout(resolve, 500));
    mark = guest.console.length;
    guest.type('\x03');
    await guest.waitFor(/\^C/, mark);
    guest.type('echo "after=$?"\n');
    // 130 = 128 + SIGINT: sleep died of the signal, in the foreground job.
    await guest.waitFor(/after=130/, mark);

    guest.type('exit 5\n');
    await guest.waitFor(fallback(5));
    expect(await guest.exited()).to.equal(0);
  });

  it('ends the VM with status 0 when poweroff is typed at the shell', async () => {
    guest = new QemuGuest(KERNEL, initrd, BASE_CMDLINE);
    await guest.waitFor(/ends the VM/);
    guest.type('poweroff\n');
    await guest.waitFor(fallback(0));
    expect(await guest.exited()).to.equal(0);
  });
});
