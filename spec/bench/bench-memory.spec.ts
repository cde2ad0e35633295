// `mvm bench memory` at a tiny size, as a user runs it: every side measured
// with positive per-instance memory, the VMMs' overhead told apart from guest
// RAM, and every instance gone afterwards. Not the amounts.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MemoryReport } from '../../src/cli/commands/bench/memory.js';
import { runMvm } from '../helpers/mvm-cli.js';

describe('mvm bench memory (2 instances per side)', function () {
  // Four sides; the mvm restore side first boots its template.
  this.timeout(480_000);
  let dir: string;
  let report: MemoryReport;
  let stdout: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-memory-'));
    const json = path.join(dir, 'memory.json');
    const result = await runMvm(['bench', 'memory', '--count', '2', '--json', json], { timeoutMs: 460_000 });
    expect(result.status, result.stderr).to.equal(0);
    stdout = result.stdout;
    report = JSON.parse(fs.readFileSync(json, 'utf8')) as MemoryReport;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('measures two idle instances of every side, each with processes and a positive PSS', () => {
    expect(report.benchmark).to.equal('memory');
    expect(report.skipped).to.deep.equal([]);
    expect(report.sides.map((s) => s.side)).to.deep.equal(['mvm', 'mvm-restore', 'qemu', 'runc']);
    for (const side of report.sides) {
      expect(side.raw.instances, side.side).to.have.length(2);
      for (const i of side.raw.instances) {
        expect(i.processes.length, side.side).to.be.at.least(1);
        expect(i.pssKiB, side.side)
          .to.equal(i.processes.reduce((t, p) => t + p.pssKiB, 0))
          .and.to.be.greaterThan(0);
      }
      expect(side.pssMiB.median).to.be.at.most(side.pssMiB.p90).and.at.most(side.pssMiB.p99);
      // Idle CPU: a share of one core per instance, each process counted at most fully on every core.
      for (const i of side.raw.instances)
        expect(i.idleCpuPercent, side.side)
          .to.be.at.least(0)
          .and.at.most(100 * 64);
      expect(side.idleCpuPercent!.median, side.side).to.be.a('number');
      expect(Number.isFinite(side.memAvailableDropPerInstanceMiB), side.side).to.equal(true);
    }
  });

  it('splits each VMM into guest RAM and its own overhead; a container has no such split', () => {
    for (const side of report.sides) {
      if (side.side === 'runc') {
        expect(side.vmmOverheadRssMiB).to.equal(undefined);
        continue;
      }
      expect(side.vmmOverheadRssMiB!.min, side.side).to.be.greaterThan(0);
      expect(side.guestRssMiB!.min, side.side).to.be.greaterThan(0);
      // Guest RAM resident can never exceed the guest's RAM.
      expect(side.guestRssMiB!.max, side.side).to.be.at.most(report.guestMemoryMiB);
    }
  });

  it('prints the table it saved, saying where it ran', () => {
    expect(['helper', 'native']).to.include(report.environment.where);
    expect(stdout).to.match(/PSS p50/);
    expect(stdout).to.match(/idle CPU % p50/);
    expect(stdout).to.match(/^idle CPU p50, mvm \/ QEMU \(goal ≤ 1\.0×\): [\d.]+×$/m);
    expect(stdout).to.match(/^VMM overhead PSS p50, mvm \/ QEMU \(goal ≤ 1\.0×\): [\d.]+×$/m);
    for (const label of ['mvm', 'QEMU microvm', 'runc']) expect(stdout).to.match(new RegExp(`^${label} +2 `, 'm'));
  });
});
