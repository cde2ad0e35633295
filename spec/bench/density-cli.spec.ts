// `mvm bench density --max 2` with the real sides (mvm, QEMU microvm, runc),
// inside the helper VM on a PVM host as users run it: every side that can run
// here is filled to the cap and reported as stopped by it (a chosen limit),
// with positive boot times and memory figures; a side that cannot run says why.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DensityResult } from '../../src/bench/density/suite.js';
import { runMvm } from '../helpers/mvm-cli.js';

/** Instances per side: the tiny size. */
const CAP = 2;

describe('mvm bench density (real sides, tiny cap)', function () {
  // 4 sides (mvm restore after booting its template) × (a warm-up + 2 instances), seconds each under the helper's emulation, plus settling.
  this.timeout(900_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-density-spec-'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('fills every side to the cap, says the cap stopped it, and measures boot time and memory', async () => {
    const json = path.join(dir, 'density.json');
    const run = await runMvm(['bench', 'density', '--max', String(CAP), '--budget-seconds', '400', '--json', json], { timeoutMs: 890_000 });
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as DensityResult;
    expect(result.benchmark).to.equal('density');
    expect(result.sides.map((s) => s.side)).to.deep.equal(['mvm', 'mvm-restore', 'qemu', 'runc']);
    const measured = result.sides.filter((s) => s.unavailable === undefined);
    expect(
      measured.map((s) => s.side),
      'mvm always runs here',
    ).to.include('mvm');
    for (const s of result.sides.filter((x) => x.unavailable !== undefined)) expect(s.unavailable, s.side).to.match(/\w{4}/);
    for (const s of measured) {
      expect(s.reached, s.side).to.equal(CAP);
      expect(s.stop?.reason, s.side).to.equal('cap');
      expect(s.samples).to.have.length(CAP);
      for (const sample of s.samples) {
        expect(sample.bootMs, s.side).to.be.greaterThan(0);
        expect(sample.memAvailableBytes).to.be.greaterThan(0).and.at.most(result.memTotalBytes);
      }
      expect(s.bootMs!.median).to.be.at.most(s.bootMs!.p99);
      expect(s.memAvailableBeforeBytes).to.be.greaterThan(0);
    }
    expect(run.stdout).to.match(/stopped by/);
    expect(run.stdout).to.match(/cap \(--max\)/);
    expect(run.stdout).to.include(result.environment.description);
  });
});
