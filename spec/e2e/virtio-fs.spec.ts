// Shared host directories (mvm run --share / --root-share): a real virtiofsd
// serves each share over vhost-user, the guest's virtio-fs driver mounts it.
// Run exactly as a user runs it (inside the helper VM on hosts without
// usable KVM), with a private runtime directory and so a helper VM of its own.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
/** The guest waits this long (in 0.1 s steps) for something the host does. */
const GUEST_WAIT_STEPS = 600;

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('shared host directories over virtio-fs (end to end)', function () {
  this.timeout(600_000);
  let dir: string;
  let env: Record<string, string>;
  const run = (args: string[], extraEnv: Record<string, string> = {}) =>
    runMvm(['run', '--kernel', KERNEL, '--initrd', INITRD, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 580_000 });

  before(() => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'mvm-virtiofs-e2e-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '120' };
  });

  after(async () => {
    if (env) await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function freshShare(name: string): string {
    const share = join(dir, name);
    mkdirSync(share, { recursive: true });
    return share;
  }

  it('lets the guest list, read and write files, each side seeing the other at once', async () => {
    const share = freshShare('rw');
    writeFileSync(join(share, 'greeting.txt'), 'hello from the host\n');
    const script = [
      'ls /data',
      'echo READ=$(cat /data/greeting.txt)',
      'echo ping from the guest > /data/from-guest',
      // The host answers while the VM runs; the guest sees the new file within cache=auto's 1 s.
      `i=0; while [ ! -f /data/from-host ] && [ $i -lt ${GUEST_WAIT_STEPS} ]; do sleep 0.1; i=$((i+1)); done`,
      'echo ANSWER=$(cat /data/from-host)',
      'echo MOUNT=$(awk \'$2 == "/data" { print $1, $3 }\' /proc/mounts)',
    ].join('; ');
    const running = run(['--share', `${share},tag=data,mount=/data`, '--', 'sh', '-c', script]);
    // The guest's write is seen whole on the host while the VM still runs (existence alone could be mid-write).
    const fromGuest = join(share, 'from-guest');
    const seen = await waitFor(
      'the guest file',
      () => existsSync(fromGuest) && readFileSync(fromGuest, 'utf8') === 'ping from the guest\n',
      560_000,
    ).then(
      () => true,
      () => false,
    );
    if (seen) writeFileSync(join(share, 'from-host'), 'pong from the host\n');
    const result = await running;
    const output = result.stdout + result.stderr;
    expect(seen, `the host saw the guest's file while the VM ran\n${output}`).to.equal(true);
    expect(result.status, output).to.equal(0);
    expect(result.stdout, output).to.match(/^greeting\.txt\s*$/m);
    expect(result.stdout, output).to.match(/^READ=hello from the host\s*$/m);
    expect(result.stdout, output).to.match(/^ANSWER=pong from the host\s*$/m);
    expect(result.stdout, output).to.match(/^MOUNT=data virtiofs\s*$/m);
  });

  it('refuses writes to a ,ro share inside the guest, and the host directory stays unchanged', async () => {
    const share = freshShare('ro');
    writeFileSync(join(share, 'kept.txt'), 'kept\n');
    const script = [
      'echo READ=$(cat /ro/kept.txt)',
      'echo x > /ro/new.txt; echo CREATE=$?',
      'rm /ro/kept.txt; echo REMOVE=$?',
      'mkdir /ro/sub; echo MKDIR=$?',
    ].join('; ');
    const result = await run(['--share', `${share},tag=ro,ro,mount=/ro`, '--', 'sh', '-c', script]);
    const output = result.stdout + result.stderr;
    expect(result.stdout, output).to.match(/^READ=kept\s*$/m);
    for (const op of ['CREATE', 'REMOVE', 'MKDIR']) expect(result.stdout, output).to.match(new RegExp(`^${op}=[1-9]\\d*\\s*$`, 'm'));
    expect(readdirSync(share)).to.deep.equal(['kept.txt']);
  });

  it('keeps the guest inside the share: .., symlinks pointing out and renames across the boundary', async () => {
    const outer = freshShare('boundary');
    const share = join(outer, 'inside');
    mkdirSync(share);
    writeFileSync(join(outer, 'outside-secret'), 'SECRET-OUTSIDE\n');
    symlinkSync('../outside-secret', join(share, 'relative-link'));
    symlinkSync(join(outer, 'outside-secret'), join(share, 'absolute-link'));
    writeFileSync(join(share, 'movable'), 'movable\n');
    const script = [
      'cat /s/../outside-secret /s/relative-link /s/absolute-link /s/../../outside-secret 2>/dev/null',
      'ls -a /s/.. /s/../.. 2>/dev/null | grep -c outside-secret; true',
      'mv /s/movable /s/../moved-out 2>/dev/null; true',
      'ln /s/movable /s/../hardlinked 2>/dev/null; true',
      'echo DONE',
    ].join('; ');
    const result = await run(['--share', `${share},tag=s,mount=/s`, '--', 'sh', '-c', script]);
    const output = result.stdout + result.stderr;
    expect(result.stdout, output).to.match(/^DONE\s*$/m);
    expect(output).not.to.include('SECRET-OUTSIDE');
    // Whatever the guest moved went to its own file system, never next to the share on the host.
    expect(readdirSync(outer).sort()).to.deep.equal(['inside', 'outside-secret']);
    expect(readFileSync(join(outer, 'outside-secret'), 'utf8')).to.equal('SECRET-OUTSIDE\n');
  });

  it('shares one folder between two VMs at once', async () => {
    const share = freshShare('two');
    // Each file appears whole (written aside, then renamed): the other guest may look between an O_CREAT and the write.
    const vm = (me: string, other: string) =>
      run([
        '--share',
        `${share},tag=both,mount=/both`,
        '--',
        'sh',
        '-c',
        `echo ${me} > /both/.${me}; mv /both/.${me} /both/${me}; i=0; while [ ! -s /both/${other} ] && [ $i -lt ${GUEST_WAIT_STEPS * 3} ]; do sleep 0.1; i=$((i+1)); done; echo SAW=$(cat /both/${other})`,
      ]);
    const [a, b] = await Promise.all([vm('vm-a', 'vm-b'), vm('vm-b', 'vm-a')]);
    expect(a.stdout, a.stdout + a.stderr).to.match(/^SAW=vm-b\s*$/m);
    expect(b.stdout, b.stdout + b.stderr).to.match(/^SAW=vm-a\s*$/m);
  });

  it('boots with a share as the root file system (--root-share) to the boot marker', async () => {
    const root = freshShare('rootfs');
    const unpacked = spawnSync('sh', ['-c', 'cd "$1" && gunzip -c "$2" | cpio -id --quiet', 'sh', root, INITRD], { encoding: 'utf8' });
    expect(unpacked.status, unpacked.stderr).to.equal(0);
    const script = 'echo ROOT=$(awk \'$2 == "/" { print $1, $3 }\' /proc/mounts); echo from-the-root-guest > /written; exit 7';
    const result = await runMvm(['run', '--kernel', KERNEL, '--root-share', root, '--timing', '--', 'sh', '-c', script], { env, timeoutMs: 580_000 });
    const output = result.stdout + result.stderr;
    expect(result.stdout, output).to.match(/^ROOT=mvm-root virtiofs\s*$/m);
    expect(result.status, output).to.equal(7);
    expect(readFileSync(join(root, 'written'), 'utf8')).to.equal('from-the-root-guest\n');
  });

  it('keeps the VMM running and reports the device error when virtiofsd dies mid-use', async () => {
    const share = freshShare('dies');
    writeFileSync(join(share, 'before.txt'), 'before\n');
    // virtiofsd through a wrapper that kills it (SIGKILL) once the guest asks for it through the share itself.
    const wrapper = join(dir, 'virtiofsd-that-dies');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
        'for a; do case "$a" in source=*) d=${a#source=} ;; esac; done',
        '/usr/lib/qemu/virtiofsd "$@" & pid=$!',
        'while [ ! -e "$d/kill-virtiofsd" ]; do kill -0 $pid 2>/dev/null || exit 0; sleep 0.2; done',
        'kill -9 $pid',
        'wait',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    const script = [
      'echo READ=$(cat /d/before.txt)',
      'touch /d/kill-virtiofsd',
      'sleep 3',
      // The share cannot answer any more: this request never completes, so it runs in the background.
      '(cat /d/before.txt >/dev/null 2>&1 &)',
      'sleep 2',
      'echo STILL-RUNNING',
      // A normal power-off syncs every file system, and a sync of this one would wait forever
      // for the dead back-end: the kernel's own power-off (status 0) skips it.
      'echo o > /proc/sysrq-trigger',
      'sleep 30',
    ].join('; ');
    const result = await run(['--share', `${share},tag=d,mount=/d`, '--', 'sh', '-c', script], { MVM_VIRTIOFSD: wrapper });
    const output = result.stdout + result.stderr;
    expect(result.stdout, output).to.match(/^READ=before\s*$/m);
    expect(result.stdout, output).to.match(/^STILL-RUNNING\s*$/m);
    expect(result.stderr, output).to.match(/virtio-fs \(d\): virtiofsd for .* closed the connection; the device needs a reset/);
    expect(result.status, output).to.equal(0);
  });
});
