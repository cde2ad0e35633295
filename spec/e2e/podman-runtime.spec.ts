// podman (4.3, with conmon) running containers in mvm microVMs through
// mvm-runtime (src/oci): the engine a user has, the image `podman import`
// makes of mvm's own root filesystem. podman gets a private configuration
// (ulimits this machine kind allows, the vfs storage driver under a directory
// the helper VM can share writable) and mvm a private runtime directory, so
// nothing global is touched. Three boots: a batch of options, stdin, and a
// detached container's life.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_STATE_ROOT } from '../../src/oci/state-store.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const RUNTIME_BIN = resolve(PROJECT_ROOT, 'dist/bundle/mvm-runtime.js');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
const KERNEL_CONFIG = resolve(PROJECT_ROOT, 'images/out/kernel.config');
const IMAGE = 'mvm-rootfs-e2e';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('podman with mvm-runtime (end to end)', function () {
  this.timeout(600_000);
  let dir: string;
  let env: Record<string, string>;

  /** Containers of this spec's bundles still in mvm-runtime's state root. */
  function ourContainers(): string[] {
    if (!existsSync(DEFAULT_STATE_ROOT)) return [];
    return readdirSync(DEFAULT_STATE_ROOT).filter((id) => {
      try {
        return (JSON.parse(readFileSync(join(DEFAULT_STATE_ROOT, id, 'state.json'), 'utf8')) as { bundle: string }).bundle.startsWith(dir);
      } catch {
        return false;
      }
    });
  }

  /** podman with our runtime; `input` is piped to its stdin. */
  function podman(args: string[], input?: string): Promise<Result> {
    return new Promise((resolveResult) => {
      // mvm-runtime's default state root: podman's exit command (container cleanup) passes --runtime but no runtime flags.
      const child = spawn('podman', ['--runtime', RUNTIME_BIN, ...args], {
        env: { ...process.env, ...env },
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      if (input !== undefined) {
        child.stdin!.on('error', () => {}); // podman may be done before it reads all of it
        child.stdin!.end(input);
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolveResult({ status, stdout, stderr });
      });
    });
  }

  before(async () => {
    if (spawnSync('podman', ['--version']).status !== 0) throw new Error('podman is not installed: `make deps` installs it');
    if (!existsSync(INITRD)) throw new Error(`${INITRD} is missing: make images`);
    dir = mkdtempSync(join(tmpdir(), 'mvm-podman-e2e-'));
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        // podman raises NOFILE/NPROC to the hard limits by default, which this machine kind refuses (issue #16).
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        // conmon (and so mvm-runtime) gets only these variables: the private run directory, for a helper VM of the spec's own.
        `conmon_env_vars = ["PATH=${process.env['PATH']}", "MVM_RUN_DIR=${join(dir, 'run')}", "MVM_HELPER_IDLE_SECONDS=120"]`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/storage-run"\n`);
    env = {
      CONTAINERS_CONF: join(dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      MVM_RUN_DIR: join(dir, 'run'),
      MVM_HELPER_IDLE_SECONDS: '120',
    };
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs);
    expect(spawnSync('sh', ['-c', `zcat '${INITRD}' | cpio -id --quiet`], { cwd: rootfs }).status).to.equal(0);
    const imported = spawnSync('sh', ['-c', `tar -C '${rootfs}' -c . | podman import - ${IMAGE}`], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(imported.status, imported.stderr).to.equal(0);
  });

  after(async () => {
    if (!dir) return;
    await podman(['rm', '-fa']); // with our runtime and its state root, so no shim outlives the spec
    await runMvm(['helper', 'stop'], { env });
    // vfs layers are plain directories; podman's own removal leaves nothing mounted.
    spawnSync('podman', ['system', 'reset', '-f'], { env: { ...process.env, ...env } });
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the command in the guest kernel with -e, -w, -u, -v both ways, --memory, and passes its exit status', async () => {
    const volume = join(dir, 'volume');
    mkdirSync(volume, { mode: 0o777 });
    spawnSync('chmod', ['777', volume]);
    writeFileSync(join(volume, 'from-host.txt'), 'hello from the host\n');
    const script = [
      'uname -r',
      'echo "FOO=$FOO"',
      'echo "PWD=$(pwd)"',
      'echo "ID=$(id -u):$(id -g)"',
      'echo "READ=$(cat /data/from-host.txt)"',
      'echo written-in-guest > /data/from-guest.txt',
      `echo "MEM=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"`,
      'exit 7',
    ].join('; ');
    const result = await podman([
      'run',
      '--rm',
      '-e',
      'FOO=bar',
      '-w',
      '/tmp',
      '-u',
      '1000:1000',
      '-v',
      `${volume}:/data`,
      '--memory',
      '256m',
      IMAGE,
      'sh',
      '-c',
      script,
    ]);
    expect(result.status, result.stderr).to.equal(7);
    const lines = result.stdout.trimEnd().split('\n');
    const guestRelease = /Linux\/x86_64 (\S+) Kernel Configuration/.exec(readFileSync(KERNEL_CONFIG, 'utf8'))![1];
    expect(lines[0]).to.equal(guestRelease);
    expect(lines[0]).not.to.equal(release());
    expect(lines.slice(1, 5)).to.deep.equal(['FOO=bar', 'PWD=/tmp', 'ID=1000:1000', 'READ=hello from the host']);
    // 256 MiB of guest RAM, less what the kernel keeps for itself.
    const memKiB = Number(/^MEM=(\d+)$/.exec(lines[5] ?? '')?.[1]);
    expect(memKiB).to.be.within(180 * 1024, 256 * 1024);
    expect(readFileSync(join(volume, 'from-guest.txt'), 'utf8')).to.equal('written-in-guest\n');
  });

  it('passes stdin with -i and ends it, with --network none', async () => {
    const result = await podman(
      ['run', '-i', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'cat; echo done; ip -o link | wc -l'],
      'line one\nline two\n',
    );
    expect(result.status, result.stderr).to.equal(0);
    // No echo of the input; only the loopback interface in the guest.
    expect(result.stdout).to.equal('line one\nline two\ndone\n1\n');
  });

  it('runs a detached container that ps, logs, stop and rm see, and leaves nothing behind', async () => {
    const started = await podman(['run', '-d', IMAGE, 'sh', '-c', 'echo up; echo written > /from-container.txt; while :; do sleep 1; done']);
    expect(started.status, started.stderr).to.equal(0);
    const id = started.stdout.trim();
    const deadline = Date.now() + 240_000;
    while (!(await podman(['logs', id])).stdout.includes('up')) {
      if (Date.now() > deadline) throw new Error('the detached container never printed "up"');
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect((await podman(['ps', '--format', '{{.ID}} {{.Status}}'])).stdout).to.match(new RegExp(`^${id.slice(0, 12)} Up `, 'm'));
    expect((await podman(['stop', '-t', '5', id])).status).to.equal(0);
    expect((await podman(['ps', '-a', '--format', '{{.Status}}', '--filter', `id=${id}`])).stdout).to.match(/^Exited \(143\)/);
    // A file the container wrote is in its root on the host, as with runc (podman cp of a running
    // container would enter the mount namespace of the container's pid, the host's here).
    const copied = await podman(['cp', `${id}:/from-container.txt`, join(dir, 'copied.txt')]);
    expect(copied.status, copied.stderr).to.equal(0);
    expect(readFileSync(join(dir, 'copied.txt'), 'utf8')).to.equal('written\n');
    expect((await podman(['rm', id])).status).to.equal(0);
    expect(ourContainers()).to.deep.equal([]);
    expect(readdirSync(join(dir, 'run', 'oci'))).to.deep.equal([]);
    const shims = spawnSync('pgrep', ['-f', `__shim ${DEFAULT_STATE_ROOT}/${id}`], { encoding: 'utf8' }).stdout.trim();
    expect(shims).to.equal('');
  });

  it('runs the same image under a private containerd 1.6 with ctr run --runc-binary', async () => {
    const ctrd = join(dir, 'containerd');
    mkdirSync(ctrd);
    const socket = join(ctrd, 'containerd.sock');
    writeFileSync(
      join(ctrd, 'config.toml'),
      `version = 2\nroot = "${ctrd}/root"\nstate = "${ctrd}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${socket}"\n`,
    );
    const saved = spawnSync('podman', ['save', '--format', 'docker-archive', '-o', join(ctrd, 'image.tar'), IMAGE], {
      env: { ...process.env, ...env },
    });
    expect(saved.status, String(saved.stderr)).to.equal(0);
    const daemon = spawn('containerd', ['--config', join(ctrd, 'config.toml')], { stdio: 'ignore', env: { ...process.env, ...env } });
    try {
      const ctr = (...args: string[]) =>
        spawnSync('ctr', ['-a', socket, '-n', 'mvm-e2e', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
      for (let i = 0; i < 100 && ctr('version').status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      // The native snapshotter's roots are plain directories the helper VM can share (overlay mounts it cannot see).
      const imported = ctr('images', 'import', '--snapshotter', 'native', join(ctrd, 'image.tar'));
      expect(imported.status, imported.stderr).to.equal(0);
      const run = ctr(
        'run',
        '--rm',
        '--snapshotter',
        'native',
        '--runc-binary',
        RUNTIME_BIN,
        `localhost/${IMAGE}:latest`,
        'ctr-demo',
        'sh',
        '-c',
        'uname -r; exit 3',
      );
      expect(run.status, run.stderr).to.equal(3);
      expect(run.stdout.trim()).to.equal(/Linux\/x86_64 (\S+) Kernel Configuration/.exec(readFileSync(KERNEL_CONFIG, 'utf8'))![1]);
      expect(ctr('containers', 'ls', '-q').stdout.trim()).to.equal('');
    } finally {
      daemon.kill('SIGTERM');
    }
  });
});
