// The project's Linux guest booted by `mvm run` exactly as a user runs it.
// On a host whose KVM cannot run Linux (this project's own machines: PVM)
// mvm runs the VMM inside the helper VM; these specs go through that path
// there and directly on hardware-virtualization hosts.
import { expect } from 'chai';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MVM_BIN, PROJECT_ROOT, runMvm, shellQuote } from '../helpers/mvm-cli.js';
import { TmuxSession } from '../helpers/tmux.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');

describe('Linux guest end to end', function () {
  // A cold helper VM takes ~15 s to come up under TCG; a boot inside it ~4 s.
  this.timeout(240_000);

  before(() => {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
  });

  it('boots one vCPU to the init marker and runs a command', async () => {
    const result = await runMvm(['run', '--timing', '--', 'sh', '-c', 'uname -a; cat /sys/class/tty/console/active']);
    expect(result.stdout).to.match(/^Linux mvm 6\.1\.\d+ .* x86_64/m);
    // The session runs on the virtio console by default.
    expect(result.stdout).to.match(/^hvc0\s*$/m);
    expect(result.stderr).to.match(/boot to userspace \d+ ms \(VMM setup \d+ ms, kernel \+ init \d+ ms\)/);
    expect(result.status).to.equal(0);
  });

  it('keeps the console on the 16550 UART with --console serial', async () => {
    const result = await runMvm(['run', '--console', 'serial', '--', 'sh', '-c', 'cat /sys/class/tty/console/active; echo done']);
    expect(result.stdout).to.match(/^ttyS0\s*\ndone\s*$/m);
    expect(result.status).to.equal(0);
  });

  it('gives the guest two CPUs with --cpus 2', async () => {
    const result = await runMvm(['run', '--cpus', '2', '--', 'sh', '-c', 'nproc; grep -c ^processor /proc/cpuinfo']);
    expect(result.stdout.trim().split(/\s+/)).to.deep.equal(['2', '2']);
    expect(result.status).to.equal(0);
  });

  it("exits with the guest command's status and keeps its arguments whole", async () => {
    const result = await runMvm(['run', '--', 'sh', '-c', 'echo "[$1]"; exit 7', 'sh', 'two words']);
    expect(result.stdout).to.include('[two words]');
    expect(result.status).to.equal(7);
  });

  it('reports a kernel panic with its own status (123) and the panic line, not as a clean exit', async () => {
    const result = await runMvm(['run', '--append', 'rdinit=/nonexistent', '--', 'true']);
    expect(result.status).to.equal(123);
    expect(result.stderr).to.match(/^mvm: the guest kernel panicked$/m);
    expect(result.stderr).to.match(/\| .*Kernel panic - not syncing/);
  });

  it('runs an interactive shell in a terminal: echo hi, then poweroff exits 0 and restores the terminal', async () => {
    const exitFile = join(tmpdir(), `mvm-e2e-exit-${process.pid}`);
    rmSync(exitFile, { force: true });
    const script = `node ${shellQuote(MVM_BIN)} run; echo "exit=$?" > ${exitFile}; stty -a >> ${exitFile}; sleep 30`;
    const tmux = TmuxSession.start(`mvm-e2e-${process.pid}`, `sh -c ${shellQuote(script)}`);
    try {
      await tmux.waitFor(/root@mvm:[^\n]*#\s*$/m, 180_000);
      tmux.type('echo hi');
      const screen = await tmux.waitFor(/# echo hi\s*\nhi\s*\n/, 30_000);
      expect(screen).to.include('Ctrl-] stops the VM');
      tmux.type('poweroff');
      const deadline = Date.now() + 60_000;
      while (!existsSync(exitFile) || !readFileSync(exitFile, 'utf8').includes('icanon')) {
        if (Date.now() > deadline) throw new Error(`mvm did not exit after poweroff:\n${tmux.screen()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const after = readFileSync(exitFile, 'utf8');
      expect(after).to.match(/^exit=0$/m);
      // Raw mode is gone: canonical input and echo are back on.
      expect(after).to.match(/(^|\s)icanon(\s|$)/m);
      expect(after).to.match(/(^|\s)echo(\s|$)/m);
    } finally {
      tmux.kill();
      rmSync(exitFile, { force: true });
    }
  });
});

describe('mvm run: bad input', function () {
  this.timeout(30_000);

  const cases: [string, string[], RegExp][] = [
    ['a missing kernel', ['--kernel', '/nonexistent/vmlinux'], /kernel \/nonexistent\/vmlinux does not exist/],
    ['a directory as the kernel', ['--kernel', '/tmp'], /is not a regular file/],
    ['a malformed memory size', ['--memory', '12Q'], /invalid memory size "12Q"/],
    ['zero vCPUs', ['--cpus', '0'], /--cpus must be a whole number of at least 1/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what} with one line and a non-zero exit`, async () => {
      const result = await runMvm(['run', ...args, '--', 'true']);
      expect(result.status).to.not.equal(0);
      expect(result.stderr).to.match(message);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
    });
  }

  it('refuses a file that is not a vmlinux ELF with one clear line', async () => {
    const result = await runMvm(['run', '--kernel', '/etc/hostname', '--', 'true'], { env: { MVM_HELPER: 'never' } });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.match(/^mvm: not an x86-64 vmlinux ELF: /m);
    expect(result.stderr).not.to.match(/at .*\.js:\d+/);
  });
});
