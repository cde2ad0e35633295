// The config.json mvm writes for the runc side: a valid OCI runtime-spec
// shape with the same init as the guests, its own namespaces, no extra
// privileges, a read-only root and the guest's memory as its limit.
import { expect } from 'chai';
import { OCI_NAMESPACES, OCI_VERSION, ociConfig, type OciConfigOptions } from '../../src/bench/sides/oci-config.js';

const options: OciConfigOptions = {
  args: ['/init'],
  env: ['container=mvm', 'MVM_CMD=ZWNobyBoaQ=='],
  rootfs: '/run/mvm-bench/rootfs-0123',
  hostname: 'mvm',
  memoryLimitBytes: 256 * 1024 * 1024,
  cgroupsPath: '/mvm-bench/c1',
};

interface Shape {
  ociVersion: string;
  process: {
    args: string[];
    env: string[];
    cwd: string;
    terminal: boolean;
    noNewPrivileges: boolean;
    user: { uid: number };
    capabilities: Record<string, string[]>;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; options: string[] }>;
  linux: { namespaces: Array<{ type: string; path?: string }>; cgroupsPath: string; resources: { memory: { limit: number } } };
}

describe('bench sides: OCI config.json for the runc side', () => {
  const config = JSON.parse(JSON.stringify(ociConfig(options))) as Shape;

  it('survives a JSON round trip with the required fields: ociVersion, process.args, root.path', () => {
    expect(config.ociVersion)
      .to.equal(OCI_VERSION)
      .and.to.match(/^1\.0\.\d+$/);
    expect(config.process.args).to.deep.equal(['/init']);
    expect(config.process.cwd).to.equal('/');
    expect(config.root).to.deep.equal({ path: options.rootfs, readonly: true });
    expect(config.hostname).to.equal('mvm');
  });

  it('passes the container flag and the encoded command in the environment, with a PATH', () => {
    expect(config.process.env).to.include.members(['container=mvm', 'MVM_CMD=ZWNobyBoaQ==']);
    expect(config.process.env.some((e) => e.startsWith('PATH=/'))).to.equal(true);
    expect(config.process.terminal).to.equal(false);
  });

  it('gives the container new pid, mount, ipc, uts and network namespaces, none joined from the host', () => {
    expect(config.linux.namespaces.map((n) => n.type).sort()).to.deep.equal(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(config.linux.namespaces.every((n) => n.path === undefined)).to.equal(true);
    expect([...OCI_NAMESPACES].sort()).to.deep.equal(['ipc', 'mount', 'network', 'pid', 'uts']);
  });

  it('grants no privileges beyond the runtime default: no new privileges, three capabilities, no ambient set', () => {
    expect(config.process.noNewPrivileges).to.equal(true);
    expect(config.process.capabilities.bounding).to.have.length(3);
    expect(config.process.capabilities.bounding).to.not.include('CAP_SYS_ADMIN');
    expect(config.process.capabilities).to.not.have.property('ambient');
  });

  it('mounts a minimal list with private writable /run and /tmp, nothing bound from the host', () => {
    const destinations = config.mounts.map((m) => m.destination);
    expect(destinations).to.include.members(['/proc', '/dev', '/sys', '/run', '/tmp']);
    expect(config.mounts.every((m) => m.type !== 'bind' && !m.options.includes('bind') && !m.options.includes('rbind'))).to.equal(true);
    expect(config.mounts.find((m) => m.destination === '/sys')!.options).to.include('ro');
  });

  it("limits memory to the guest's RAM in the given cgroup", () => {
    expect(config.linux.resources.memory.limit).to.equal(options.memoryLimitBytes);
    expect(config.linux.cgroupsPath).to.equal('/mvm-bench/c1');
  });

  it('refuses an empty argv or a memory limit that is not a positive whole number', () => {
    expect(() => ociConfig({ ...options, args: [] })).to.throw(RangeError);
    expect(() => ociConfig({ ...options, memoryLimitBytes: 0 })).to.throw(RangeError);
    expect(() => ociConfig({ ...options, memoryLimitBytes: 1.5 })).to.throw(RangeError);
  });

  it('hands out copies: changing one config leaves the next untouched', () => {
    const first = ociConfig(options) as unknown as Shape;
    first.mounts[0]!.options.push('changed');
    expect((ociConfig(options) as unknown as Shape).mounts[0]!.options).to.not.include('changed');
  });
});
