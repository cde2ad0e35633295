// mvm-runtime's reading of an OCI bundle's config.json (src/oci/runtime-spec.ts)
// and the `mvm run` launch it becomes (src/oci/guest-command.ts): no VM.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { guestLaunch } from '../../src/oci/guest-command.js';
import { MIN_GUEST_MEMORY, parseSpec, readBundle } from '../../src/oci/runtime-spec.js';

/** A config.json as podman 4.3 writes it, trimmed to what matters here. */
function podmanLikeConfig(dir: string): Record<string, unknown> {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 1000, gid: 100, umask: 0o22, additionalGids: [10, 20] },
      args: ['sh', '-c', "echo 'it''s' $HOME"],
      env: ['PATH=/usr/bin:/bin', 'HOME=/root'],
      cwd: '/work',
      capabilities: { bounding: ['CAP_KILL'] },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 1024, soft: 512 },
        { type: 'RLIMIT_NPROC', hard: 2 ** 64, soft: 2 ** 64 }, // RLIM_INFINITY as JSON.parse reads 18446744073709551615,
      ],
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'box',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] },
      { destination: '/dev/shm', type: 'bind', source: join(dir, 'shm'), options: ['bind', 'private'] },
      { destination: '/etc/hosts', type: 'bind', source: join(dir, 'userdata', 'hosts'), options: ['bind', 'rprivate'] },
      { destination: '/etc/hostname', type: 'bind', source: join(dir, 'userdata', 'hostname'), options: ['bind', 'rprivate', 'ro'] },
      { destination: '/data', type: 'bind', source: join(dir, 'volume'), options: ['rbind'] },
    ],
    linux: {
      resources: { memory: { limit: 300 * 1024 * 1024 }, cpu: { quota: 150000, period: 100000 }, devices: [{ allow: false, access: 'rwm' }] },
      seccomp: { defaultAction: 'SCMP_ACT_ERRNO' },
      maskedPaths: ['/proc/kcore'],
      sysctl: { 'net.ipv4.ping_group_range': '0 0' },
    },
    annotations: { 'io.podman.annotations.autoremove': 'TRUE' },
  };
}

describe('mvm-runtime: config.json', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-oci-spec-'));
    for (const d of ['rootfs', 'shm', 'userdata', 'volume']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'userdata', 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(dir, 'userdata', 'hostname'), 'box\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the process, root, mounts and machine size of a podman-style bundle, naming what it does not honour', () => {
    const spec = parseSpec(podmanLikeConfig(dir), dir);
    expect(spec.args).to.deep.equal(['sh', '-c', "echo 'it''s' $HOME"]);
    expect(spec).to.include({ cwd: '/work', uid: 1000, gid: 100, umask: 0o22, hostname: 'box', rootReadOnly: true, terminal: false, cpus: 2 });
    expect(spec.additionalGids).to.deep.equal([10, 20]);
    expect(spec.rootPath).to.equal(join(dir, 'rootfs'));
    expect(spec.memoryBytes).to.equal(300 * 1024 * 1024);
    expect(spec.rlimits).to.deep.equal([
      { resource: 7, soft: 512n, hard: 1024n },
      { resource: 6, soft: 'inf', hard: 'inf' },
    ]);
    const guest = spec.mounts.filter((m) => m.kind === 'guest').map((m) => `${m.type}:${m.destination}`);
    expect(guest).to.deep.equal(['proc:/proc', 'devtmpfs:/dev', 'tmpfs:/dev/shm']);
    const binds = spec.mounts.filter((m) => m.kind === 'bind');
    expect(binds.map((m) => [m.destination, m.isFile, m.readOnly])).to.deep.equal([
      ['/etc/hosts', true, false],
      ['/etc/hostname', true, true],
      ['/data', false, false],
    ]);
    expect(spec.warnings).to.have.length(3);
    expect(spec.warnings.join('\n'))
      .to.match(/mqueue/)
      .and.match(/cgroup/)
      .and.match(/linux\.sysctl/);
  });

  it('turns the bundle into mvm run shares and a guest script that quotes every word', () => {
    const spec = parseSpec(podmanLikeConfig(dir), dir);
    const launch = guestLaunch(spec, join(dir, 'boot'), { interactive: false });
    expect(launch.args.slice(0, 5)).to.deep.equal(['run', '--memory', '300M', '--cpus', '2']);
    // The root (read-only as asked), the script's directory, and one share for the two files in userdata.
    expect(launch.shares.map((s) => [s.path, s.readOnly, s.mountPoint])).to.deep.equal([
      [join(dir, 'rootfs'), true, '/oci/root'],
      [join(dir, 'boot'), true, '/oci/boot'],
      [join(dir, 'userdata'), false, '/oci/binds/0'],
      [join(dir, 'volume'), false, '/oci/binds/1'],
    ]);
    expect(launch.args.at(-1)).to.equal('/oci/boot/start.sh');
    expect(launch.script).to.include(`mount --bind /oci/binds/0/hostname "$R"/etc/hostname && mount -o remount,bind,ro "$R"/etc/hostname`);
    expect(launch.script).to.include('mount -t devtmpfs devtmpfs "$R"/dev');
    expect(launch.script).to.include(
      `exec /usr/bin/mvm-oci-exec -r /oci/root -w /work -u 1000 -g 100 -G 10,20 -h box -m 18 -l 7:512:1024 -l 6:inf:inf -e PATH=/usr/bin:/bin -e HOME=/root -- sh -c 'echo '\\''it'\\'''\\''s'\\'' $HOME'`,
    );
    expect(launch.script).not.to.include('mvm-ready');
    expect(guestLaunch(spec, join(dir, 'boot'), { interactive: true }).script).to.include('mvm-ready');
  });

  it('keeps a guest big enough to boot and caps the vCPUs', () => {
    const config = podmanLikeConfig(dir);
    (config['linux'] as { resources: unknown }).resources = { memory: { limit: 4 * 1024 * 1024 }, cpu: { cpus: '0-63' } };
    const spec = parseSpec(config, dir);
    expect(spec.memoryBytes).to.equal(MIN_GUEST_MEMORY);
    expect(spec.cpus).to.equal(16);
    expect(spec.warnings.join('\n'))
      .to.match(/below what the guest boots in/)
      .and.match(/64 CPUs asked/);
  });

  it('refuses, in one line each, what it cannot read', () => {
    const refusals: [(c: Record<string, unknown>) => void, RegExp][] = [
      [(c) => (c['ociVersion'] = '2.0.0'), /ociVersion "2.0.0" is not a runtime-spec version mvm knows/],
      [(c) => delete c['ociVersion'], /ociVersion is missing/],
      [(c) => (c['root'] = { path: 'nope' }), /root.path \S+nope is not a directory/],
      [(c) => ((c['process'] as Record<string, unknown>)['args'] = []), /process.args is empty/],
      [(c) => ((c['process'] as Record<string, unknown>)['args'] = 'ls'), /process.args must be an array of strings/],
      [(c) => ((c['process'] as Record<string, unknown>)['cwd'] = 'relative'), /process.cwd must be an absolute path/],
      [(c) => ((c['process'] as Record<string, unknown>)['user'] = { uid: -1 }), /process.user.uid must be a uid/],
      [
        (c) => ((c['process'] as Record<string, unknown>)['rlimits'] = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]),
        /"RLIMIT_BOGUS" is not a Linux rlimit/,
      ],
      [(c) => (c['mounts'] = [{ destination: '/x', type: 'nfs', source: 'server:/x' }]), /"nfs" is not a file system mvm-runtime mounts/],
      [(c) => (c['mounts'] = [{ destination: '/x', type: 'bind', source: join(dir, 'missing') }]), /missing does not exist/],
      [(c) => (c['mounts'] = [{ destination: '/../etc', type: 'proc' }]), /must be an absolute path without \.\./],
      [(c) => (c['annotations'] = { 'org.mvm.memory': 'lots' }), /org.mvm.memory/],
    ];
    for (const [change, message] of refusals) {
      const config = podmanLikeConfig(dir);
      change(config);
      expect(() => parseSpec(config, dir)).to.throw(UserError, message);
    }
  });

  it('refuses a bundle without config.json, and one whose config.json is not JSON', () => {
    expect(() => readBundle(join(dir, 'rootfs'))).to.throw(UserError, /has no config\.json$/);
    expect(() => readBundle(join(dir, 'nope'))).to.throw(UserError, /is not a directory$/);
    writeFileSync(join(dir, 'config.json'), '{"ociVersion": ');
    expect(() => readBundle(dir)).to.throw(UserError, /config\.json is not valid JSON/);
  });
});
