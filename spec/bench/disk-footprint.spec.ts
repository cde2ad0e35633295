// `mvm bench disk` at a tiny size: allocated bytes (not apparent sizes) for
// files and trees; every kind of instance measured from the real root disk,
// with sane numbers (an overlay starts near empty and grows by about the
// write, a full copy is the whole virtual disk); one guest really writing into
// its qcow2 overlay; and the CLI's table and JSON.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { footprint, footprintOf } from '../../src/bench/disk-footprint/allocated.js';
import { runDiskSuite, type DiskResult } from '../../src/bench/disk-footprint/suite.js';
import { PROJECT_ROOT, runMvm } from '../helpers/mvm-cli.js';

const MiB = 1024 * 1024;
const BASE = path.join(PROJECT_ROOT, 'images/out/rootfs.qcow2');
const KERNEL = path.join(PROJECT_ROOT, 'images/out/vmlinux');
const WRITE = 4 * MiB;
/** qcow2 metadata for a 4 MiB write into an empty overlay (L2 table, refcounts): far less than a MiB. */
const OVERLAY_SLACK = 1 * MiB;

describe('bench disk footprint', function () {
  this.timeout(600_000);
  let dir: string;

  before(() => {
    if (!fs.existsSync(BASE)) throw new Error(`${BASE} is missing: \`make test\` builds it (make images)`);
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-footprint-spec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts allocated blocks: a sparse file costs its data, a tree its files and directories, a hard link once', () => {
    const sparse = path.join(dir, 'sparse');
    const fd = fs.openSync(sparse, 'w');
    fs.writeSync(fd, Buffer.alloc(64 * 1024, 1), 0, 64 * 1024, 32 * MiB);
    fs.closeSync(fd);
    const f = footprint(sparse);
    expect(f.apparentBytes).to.equal(32 * MiB + 64 * 1024);
    expect(f.allocatedBytes)
      .to.be.at.least(64 * 1024)
      .and.below(MiB);
    fs.mkdirSync(path.join(dir, 'tree'));
    fs.writeFileSync(path.join(dir, 'tree', 'a'), Buffer.alloc(8192, 2));
    fs.linkSync(path.join(dir, 'tree', 'a'), path.join(dir, 'tree', 'b'));
    const tree = footprint(path.join(dir, 'tree'));
    expect(tree.apparentBytes).to.equal(8192);
    expect(tree.allocatedBytes).to.equal(fs.statSync(path.join(dir, 'tree')).blocks * 512 + fs.statSync(path.join(dir, 'tree', 'a')).blocks * 512);
    expect(footprintOf([sparse, path.join(dir, 'tree')]).allocatedBytes).to.equal(f.allocatedBytes + tree.allocatedBytes);
  });

  it('measures every kind of instance from the root disk, written through the disk layer (2 instances)', async () => {
    const result = await runDiskSuite({ count: 2, writeBytes: WRITE, writeVia: 'backend', baseQcow2: BASE, kernel: KERNEL });
    expect(result.sides.map((s) => s.kind)).to.deep.equal(['qcow2-overlay', 'full-copy', 'sparse-copy', 'overlayfs']);
    const byKind = new Map(result.sides.map((s) => [s.kind, s]));
    if (process.getuid?.() !== 0) {
      // Without root no overlayfs can be mounted: the side must say so rather than vanish.
      expect(byKind.get('overlayfs')!.unavailable).to.match(/root/);
      byKind.delete('overlayfs');
    }
    for (const side of byKind.values()) {
      expect(side.unavailable, side.kind).to.equal(undefined);
      expect(side.instances, side.kind).to.have.length(2);
      for (const i of side.instances) {
        expect(i.cloneMs, side.kind).to.be.greaterThan(0);
        expect(i.before.allocatedBytes, side.kind).to.be.greaterThan(0);
        expect(i.after.allocatedBytes, side.kind).to.be.at.least(i.before.allocatedBytes);
      }
      expect(side.totalAllocatedByCount, side.kind).to.have.length(2);
      expect(side.totalAllocatedByCount[1]!).to.be.greaterThan(side.totalAllocatedByCount[0]!);
    }
    const overlay = byKind.get('qcow2-overlay')!;
    expect(overlay.allocatedBefore!.median, 'an empty overlay').to.be.below(MiB);
    expect(overlay.allocatedAfter!.median - overlay.allocatedBefore!.median).to.be.within(WRITE, WRITE + OVERLAY_SLACK);
    // The overlays back onto a copy of the base (holes kept): about the original's allocation.
    expect(overlay.sharedBaseBytes).to.equal(result.base.qcow2Allocated);
    expect(overlay.sharedBaseBytes).to.be.within((fs.statSync(BASE).blocks * 512) / 2, fs.statSync(BASE).blocks * 512 * 2);
    const full = byKind.get('full-copy')!;
    expect(full.allocatedBefore!.median, 'every byte of the virtual disk').to.be.at.least(result.base.virtualBytes);
    const sparse = byKind.get('sparse-copy')!;
    expect(sparse.allocatedBefore!.median).to.be.below(result.base.virtualBytes);
    const upper = byKind.get('overlayfs');
    if (upper) {
      expect(upper.allocatedBefore!.median, 'empty upper + work dirs').to.be.below(64 * 1024);
      expect(upper.allocatedAfter!.median).to.be.at.least(WRITE);
    }
    expect(result.base.virtualBytes).to.be.greaterThan(result.base.qcow2Allocated);
    expect(result.base.treeAllocated).to.be.greaterThan(0);
  });

  it('a booted guest writing a file grows its qcow2 overlay by at least the file (1 instance)', async () => {
    const result = await runDiskSuite({ count: 1, writeBytes: WRITE, writeVia: 'guest', baseQcow2: BASE, kernel: KERNEL, only: ['qcow2-overlay'] });
    expect(result.sides).to.have.length(1);
    const [instance] = result.sides[0]!.instances;
    expect(instance!.after.allocatedBytes - instance!.before.allocatedBytes).to.be.at.least(WRITE);
    expect(instance!.writeMs).to.be.greaterThan(0);
  });

  it('prints the table and writes the JSON from the command line', async () => {
    const json = path.join(dir, 'disk.json');
    const run = await runMvm(['bench', 'disk', '--count', '1', '--write-via', 'backend', '--json', json], { timeoutMs: 120_000 });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout, 'a new overlay is KiB, not MiB').to.match(/qcow2 overlay \(mvm\)\s+\S+ \S+\s+\d+ KiB/);
    expect(run.stdout).to.include('results:');
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as DiskResult;
    expect(result.benchmark).to.equal('disk');
    expect(result.count).to.equal(1);
    const bad = await runMvm(['bench', 'disk', '--write-via', 'magic']);
    expect(bad.status).to.equal(2);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
  });
});
