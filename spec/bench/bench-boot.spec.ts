// `mvm bench boot` at a tiny size, as a user runs it (moved into the helper
// VM on a PVM host): every side measured, markers seen, numbers positive,
// percentiles ordered, the JSON and the table agreeing. Not its speed.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BootReport } from '../../src/cli/commands/bench/boot.js';
import type { Summary } from '../../src/bench/stats.js';
import { runMvm } from '../helpers/mvm-cli.js';

function expectOrdered(s: Summary, what: string): void {
  expect(s.min, what).to.be.greaterThan(0);
  expect(s.min, what).to.be.at.most(s.median);
  expect(s.median, what).to.be.at.most(s.p90);
  expect(s.p90, what).to.be.at.most(s.p99);
  expect(s.p99, what).to.be.at.most(s.max);
}

describe('mvm bench boot (2 runs, 2 at a time)', function () {
  // Two of each side at once (no warm-up: the numbers are not judged), under TCG on a shared machine.
  // The mvm restore side first boots its template (mvm run --snapshot-after-boot).
  this.timeout(480_000);
  let dir: string;
  let report: BootReport;
  let stdout: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-boot-'));
    const json = path.join(dir, 'boot.json');
    const result = await runMvm(['bench', 'boot', '--runs', '2', '--parallel', '2', '--warmup', '0', '--skip-exit-loop', '--json', json], {
      timeoutMs: 460_000,
    });
    expect(result.status, result.stderr).to.equal(0);
    stdout = result.stdout;
    report = JSON.parse(fs.readFileSync(json, 'utf8')) as BootReport;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('measures every side, two instances each, with markers seen before exits', () => {
    const boot = report.boot!;
    expect(boot.skipped).to.deep.equal([]);
    expect(boot.sides.map((s) => s.side)).to.deep.equal(['mvm', 'mvm-restore', 'qemu', 'runc']);
    expect([boot.runs, boot.parallel]).to.deep.equal([2, 2]);
    for (const side of boot.sides) {
      const samples = boot.samples[side.side]!;
      expect(samples, side.side).to.have.length(2);
      for (const s of samples) expect(s.markerMs, side.side).to.be.greaterThan(0).and.at.most(s.exitMs);
    }
  });

  it('reports ordered percentiles for start → marker and start → exit', () => {
    for (const side of report.boot!.sides) {
      expectOrdered(side.markerMs, `${side.side} marker`);
      expectOrdered(side.exitMs, `${side.side} exit`);
    }
  });

  it("gives ratios between every pair of sides and mvm's breakdown", () => {
    const boot = report.boot!;
    // Every pair of the four sides, spawn → marker and spawn → exit.
    expect(boot.ratios).to.have.length(12);
    for (const r of boot.ratios) expect(r.value, r.label).to.be.greaterThan(0);
    const b = boot.mvmBreakdown!;
    for (const s of [b.nodeAndModulesMs, b.vmmSetupMs, b.kernelToInitMs]) expectOrdered(s, 'mvm breakdown');
  });

  it('says where it ran, and prints the table it saved', () => {
    expect(['helper', 'native']).to.include(report.boot!.environment.where);
    expect(report.exitLoops).to.deep.equal([]);
    for (const label of ['mvm: spawn → marker', 'mvm restore: spawn → marker', 'QEMU microvm: spawn → exit', 'runc: spawn → marker'])
      expect(stdout).to.include(label);
    expect(stdout).to.match(/p50 +p90 +p99/);
  });

  it('refuses a run count that is not a whole number, in one line', async () => {
    const result = await runMvm(['bench', 'boot', '--runs', 'two']);
    expect(result.status).to.equal(2);
    expect(result.stderr.trim().split('\n')).to.have.length(1);
    expect(result.stderr).to.include('--runs');
  });
});
