// How the helper daemon sees detached VMMs (src/helper/vmm-activity.ts): one
// directory per VMM named <vm>-<pid> under its socket root; only live VMM
// pids count, so the helper does not power off under running VMs.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countLiveVmms, helperVmmDir, pidOfVmmDir } from '../../src/helper/vmm-activity.js';

describe('detached VMMs inside the helper', () => {
  it('names a VMM directory <vm>-<pid> and reads the pid back', () => {
    expect(helperVmmDir('web-1', 42, '/run/mvm')).to.equal('/run/mvm/web-1-42');
    expect(pidOfVmmDir('web-1-42')).to.equal(42);
    for (const other of ['web', 'web-0', 'web-', 'web-12345678901', 'stray.tmp']) expect(pidOfVmmDir(other), other).to.equal(null);
  });

  it('counts the directories whose pid is a live VMM; no root means none', () => {
    const root = mkdtempSync(join(tmpdir(), 'mvm-run-'));
    try {
      for (const entry of ['a-10', 'b-11', 'c-12']) mkdirSync(join(root, entry));
      writeFileSync(join(root, 'notes'), '');
      expect(countLiveVmms(root, (pid) => pid !== 11)).to.equal(2);
      expect(countLiveVmms(root, () => false)).to.equal(0);
      expect(countLiveVmms(join(root, 'missing'))).to.equal(0);
      // By default a pid counts only while it is alive and a VMM: this spec's own pid is neither a VMM…
      mkdirSync(join(root, `self-${process.pid}`));
      expect(countLiveVmms(root)).to.equal(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
