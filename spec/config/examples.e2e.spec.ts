// Every examples/*.ini boots through `mvm run --config` exactly as a user
// runs it (inside the helper VM on PVM hosts), and the guest has the shape
// the file describes: vCPUs, memory, disks, entropy device, root filesystem.
// One boot per example; the guest prints what it sees as KEY=VALUE lines.
import { expect } from 'chai';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const EXAMPLES = resolve(PROJECT_ROOT, 'examples');
const GUEST_FILES = ['images/out/vmlinux', 'images/out/initramfs.cpio.gz', 'images/out/rootfs.qcow2'].map((f) => resolve(PROJECT_ROOT, f));
const MiB = 2 ** 20;
/**
 * The kernel keeps some of the RAM for itself (its image, page tables,
 * reserved ranges), so MemTotal is a little below the configured size; mvm's
 * kernel is small, so it stays above this share of it.
 */
const MIN_MEMTOTAL_SHARE = 0.85;

/** What the guest reports about itself, one KEY=VALUE line each. */
const SHAPE_SCRIPT = [
  'echo CPUS=$(nproc)',
  "echo MEMTOTAL_KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)",
  'echo ROOT=$(awk \'$2 == "/" { print $1, $3 }\' /proc/mounts)',
  'echo DISKS=$(cd /sys/block && ls -d vd* 2>/dev/null)',
  'for d in /sys/block/vd*; do [ -e $d ] && echo RO_$(basename $d)=$(cat $d/ro); done',
  'echo HWRNG=$([ -c /dev/hwrng ] && echo yes || echo no)',
  'echo CONSOLE=$(cat /sys/class/tty/console/active)',
].join('; ');

function shapeOf(stdout: string): Record<string, string> {
  const shape: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([A-Z_a-z]+)=(.*?)\s*$/gm)) shape[m[1]!] = m[2]!;
  return shape;
}

function expectMemory(shape: Record<string, string>, configuredBytes: number): void {
  const bytes = Number(shape['MEMTOTAL_KB']) * 1024;
  expect(bytes, `MemTotal for ${configuredBytes / MiB} MiB`).to.be.within(configuredBytes * MIN_MEMTOTAL_SHARE, configuredBytes);
}

interface ExampleCase {
  /** Flags added after --config (to show that they override the file). */
  readonly extraFlags: readonly string[];
  check(shape: Record<string, string>): void;
}

const CASES: Record<string, ExampleCase> = {
  'minimal.ini': {
    // --cpus overrides the file's vcpus = 1; memory still comes from the file.
    extraFlags: ['--cpus', '2'],
    check(shape) {
      expect(shape['CPUS']).to.equal('2');
      expectMemory(shape, 256 * MiB);
      expect(shape['ROOT']).to.equal('rootfs rootfs');
      expect(shape['DISKS']).to.equal('');
      expect(shape['CONSOLE']).to.equal('hvc0');
    },
  },
  'root-disk.ini': {
    extraFlags: [],
    check(shape) {
      expect(shape['CPUS']).to.equal('1');
      expectMemory(shape, 256 * MiB);
      expect(shape['ROOT']).to.equal('/dev/root ext4');
      expect(shape['DISKS']).to.equal('vda');
      expect(shape['RO_vda']).to.equal('0');
    },
  },
  'server.ini': {
    extraFlags: [],
    check(shape) {
      expect(shape['CPUS']).to.equal('2');
      expectMemory(shape, 512 * MiB);
      expect(shape['ROOT']).to.equal('/dev/root ext4');
      expect(shape['DISKS']).to.equal('vda vdb');
      expect(shape['RO_vda']).to.equal('0');
      expect(shape['RO_vdb']).to.equal('1');
      expect(shape['HWRNG']).to.equal('yes');
      expect(shape['CONSOLE']).to.equal('hvc0');
    },
  },
};

/** A cold helper VM ~20 s, then a boot of a few seconds; many times that while other specs share the helper's 2 CPUs. */
const BOOT_TIMEOUT_MS = 280_000;

describe('examples/*.ini boot (end to end)', function () {
  this.timeout(BOOT_TIMEOUT_MS + 20_000);

  before(() => {
    for (const file of GUEST_FILES) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
  });

  it('has a boot check for every example', () => {
    const examples = readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.ini'))
      .sort();
    expect(examples).to.deep.equal(Object.keys(CASES).sort());
  });

  for (const [example, testCase] of Object.entries(CASES)) {
    it(`boots ${example} with the shape it describes`, async () => {
      const result = await runMvm(['run', '--config', join(EXAMPLES, example), ...testCase.extraFlags, '--', 'sh', '-c', SHAPE_SCRIPT], {
        timeoutMs: BOOT_TIMEOUT_MS,
      });
      expect(result.status, result.stderr).to.equal(0);
      testCase.check(shapeOf(result.stdout));
    });
  }

  it('reports a bad file on one line with status 2, before starting anything', async () => {
    const missing = join(EXAMPLES, 'no-such-example.ini');
    const result = await runMvm(['run', '--config', missing, '--', 'true']);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.equal(`mvm: ${missing}: no such file\n`);
  });
});
