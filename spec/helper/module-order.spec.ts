// The helper image's module load order, computed by images/build-helper.sh
// from `modinfo -F depends` output (here: fixture lines in the same form).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/runtime/paths.js';

const SCRIPT = join(projectRoot(), 'images', 'build-helper.sh');

function moduleOrder(lines: string): { status: number | null; order: string[]; stderr: string } {
  const result = spawnSync('bash', [SCRIPT, '--module-order'], { input: lines, encoding: 'utf8' });
  return { status: result.status, order: result.stdout.split('\n').filter(Boolean), stderr: result.stderr };
}

/** Dependencies of Debian 6.1's modules the helper loads, as modinfo reports them. */
const DEBIAN_61 = `kvm_amd kvm ccp
9p 9pnet fscache netfs
9pnet_virtio virtio 9pnet virtio_ring
virtio_pci virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio
virtio_net virtio_ring virtio net_failover
kvm irqbypass
ccp
9pnet
fscache netfs
netfs
virtio virtio_ring
virtio_ring
virtio_pci_modern_dev
virtio_pci_legacy_dev
net_failover failover
failover
irqbypass
`;

function dependencies(lines: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of lines.split('\n').filter(Boolean)) {
    const [mod, ...rest] = line.split(' ');
    deps.set(mod, rest);
  }
  return deps;
}

describe('helper/module order (images/build-helper.sh --module-order)', () => {
  it('lists every module once, each after all of its dependencies', () => {
    const { status, order } = moduleOrder(DEBIAN_61);
    expect(status).to.equal(0);
    const deps = dependencies(DEBIAN_61);
    expect([...order].sort()).to.deep.equal([...deps.keys()].sort());
    for (const [mod, needs] of deps) {
      for (const need of needs) {
        expect(order.indexOf(need), `${need} before ${mod}`).to.be.lessThan(order.indexOf(mod));
      }
    }
  });

  it('keeps modules without dependencies', () => {
    expect(moduleOrder('solo\n').order).to.deep.equal(['solo']);
  });

  it('fails on a dependency cycle instead of guessing an order', () => {
    const { status, stderr } = moduleOrder('a b\nb c\nc a\n');
    expect(status).to.not.equal(0);
    expect(stderr).to.match(/loop|cycle/i);
  });
});
