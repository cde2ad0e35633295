// The boot benchmark's summary of raw samples: percentiles per side, ratios
// between every pair of sides, and mvm's breakdown.
import { expect } from 'chai';
import { summarizeSideBoots } from '../../src/bench/boot/side-summary.js';
import { formatBootSides } from '../../src/bench/boot/side-report.js';
import type { BenchEnvironment } from '../../src/bench/sides/environment.js';

const environment: BenchEnvironment = { where: 'native', description: 'natively on this host', kernelRelease: '6.1', cpus: 2, memTotalMiB: 4096 };
const labels = [
  { side: 'mvm', label: 'mvm' },
  { side: 'qemu', label: 'QEMU microvm' },
  { side: 'runc', label: 'runc' },
] as const;

const samples = {
  boots: {
    mvm: [100, 120, 110].map((m) => ({
      markerMs: m,
      exitMs: m + 10,
      timing: { vmmSetupMs: 10, kernelInitMs: 40, bootToUserspaceMs: 50, ranMs: 70 },
    })),
    qemu: [200, 220, 240].map((m) => ({ markerMs: m, exitMs: m + 30 })),
    runc: [50, 55, 60].map((m) => ({ markerMs: m, exitMs: m + 5 })),
  },
  cliLoadMs: [30, 32],
};

describe('boot benchmark summary (sides)', () => {
  const result = summarizeSideBoots({ environment, kernelCmdline: 'console=ttyS0', runs: 3, parallel: 1, labels: [...labels], skipped: [], samples });

  it('summarizes every measured side in table order with ordered percentiles', () => {
    expect(result.sides.map((s) => s.side)).to.deep.equal(['mvm', 'qemu', 'runc']);
    for (const s of result.sides) {
      expect(s.markerMs.n).to.equal(3);
      expect(s.markerMs.median).to.be.at.most(s.markerMs.p90);
      expect(s.markerMs.p90).to.be.at.most(s.markerMs.p99);
      expect(s.exitMs.median).to.be.greaterThan(s.markerMs.median);
    }
    expect(result.sides[0]!.markerMs.median).to.equal(110);
  });

  it('gives ratios of medians for every pair, the mvm/QEMU marker ratio with its goal', () => {
    expect(result.ratios).to.have.length(6);
    const mvmQemu = result.ratios.find((r) => r.label === 'spawn → marker, mvm / QEMU microvm')!;
    expect(mvmQemu.value).to.equal(110 / 220);
    expect(mvmQemu.goal).to.equal('≤ 0.5');
    expect(result.ratios.find((r) => r.label === 'spawn → exit, QEMU microvm / runc')!.value).to.equal(250 / 60);
  });

  it("breaks mvm's boot down into Node + modules, VMM setup, kernel and the rest up to the marker", () => {
    expect(result.mvmBreakdown).to.not.equal(undefined);
    const b = result.mvmBreakdown!;
    expect([b.nodeAndModulesMs.median, b.vmmSetupMs.median, b.kernelToInitMs.median]).to.deep.equal([31, 10, 40]);
    expect(b.initToMarkerMs).to.equal(110 - 31 - 10 - 40);
    expect(b.actionToStopMs?.median).to.equal(70);
  });

  it('leaves out sides without samples and prints skipped sides with their reason', () => {
    const partial = summarizeSideBoots({
      environment,
      kernelCmdline: 'x',
      runs: 3,
      parallel: 1,
      labels: [...labels],
      skipped: [{ side: 'runc', reason: 'runc is not installed' }],
      samples: { boots: { qemu: samples.boots.qemu }, cliLoadMs: [] },
    });
    expect(partial.sides.map((s) => s.side)).to.deep.equal(['qemu']);
    expect(partial.ratios).to.deep.equal([]);
    expect(partial.mvmBreakdown).to.equal(undefined);
    expect(formatBootSides(partial)).to.include('skipped runc: runc is not installed');
  });
});
