// `mvm ps` against fake VMMs: the table and the JSON, -a, and dead VMMs shown
// as dead with the reason.
import { expect } from 'chai';
import { FakeRunDir, deadPid } from '../helpers/fake-vmm.js';
import { runMvm } from '../helpers/mvm-cli.js';
import type { PsRow } from '../../src/fleet/ps-table.js';
import { formatBoot, formatUptime } from '../../src/fleet/ps-table.js';

describe('mvm ps (fake VMMs)', function () {
  // Each CLI run is a fresh node process.
  this.timeout(60_000);
  let run: FakeRunDir;

  before(async () => {
    run = new FakeRunDir();
    run.add({ name: 'web', cpus: 2, memoryBytes: 512 * 2 ** 20, bootMs: 1234 });
    run.add({ name: 'crashed', pid: await deadPid() });
    await run.add({ name: 'inhelper', where: 'helper', pid: 77 }).listen();
    run.add({ name: 'lost', where: 'helper', pid: 78 });
    run.add({ name: 'old', state: 'exited', exitStatus: 0 });
    run.add({ name: 'broken', state: 'failed', exitReason: 'the guest kernel panicked' });
  });
  after(async () => {
    await run.cleanup();
  });

  it('lists the live and the dead VMs in a table, without the exited and failed ones', async () => {
    const result = await runMvm(['ps'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^NAME\s+STATE\s+VCPUS\s+MEMORY\s+UPTIME\s+BOOT\s+PID$/);
    expect(lines.slice(1).map((l) => l.split(/\s{3,}/)[0])).to.deep.equal(['crashed', 'inhelper', 'lost', 'web']);
    const web = lines.find((l) => l.startsWith('web'))!;
    const cells = web.split(/\s{3,}/);
    expect(cells).to.have.length(7);
    expect([...cells.slice(0, 4), ...cells.slice(5)]).to.deep.equal(['web', 'running', '2', '512 MiB', '1234 ms', String(process.pid)]);
    // The fake VMM started 65 s before this spec's setup.
    expect(cells[4]).to.match(/^1 min \d+ s$/);
    expect(lines.find((l) => l.startsWith('crashed'))).to.contain('dead (VMM process gone)');
    expect(lines.find((l) => l.startsWith('lost'))).to.contain('dead (API socket does not answer)');
    expect(lines.find((l) => l.startsWith('inhelper'))).to.match(/running .* 77 \(helper\)$/);
  });

  it('-a adds the exited and failed VMs with their status or reason', async () => {
    const result = await runMvm(['ps', '-a'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^old\s+exited \(0\)\s/m);
    expect(result.stdout).to.match(/^broken\s+failed \(the guest kernel panicked\)\s/m);
    expect(result.stdout.trimEnd().split('\n')).to.have.length(7);
  });

  it('--json gives every field, and never says running for a dead VMM', async () => {
    const result = await runMvm(['ps', '-a', '--json'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    const rows = JSON.parse(result.stdout) as PsRow[];
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(rows.map((r) => r.name)).to.deep.equal(['broken', 'crashed', 'inhelper', 'lost', 'old', 'web']);
    expect(byName.get('web')).to.include({
      state: 'running',
      vcpus: 2,
      memoryBytes: 512 * 2 ** 20,
      bootMs: 1234,
      pid: process.pid,
      where: 'host',
      exitStatus: null,
      exitReason: null,
    });
    expect(byName.get('web')!.uptimeMs).to.be.within(65_000, 120_000);
    expect(byName.get('crashed')).to.include({ state: 'dead', reason: 'VMM process gone', uptimeMs: null });
    expect(byName.get('lost')).to.include({ state: 'dead', reason: 'API socket does not answer' });
    expect(byName.get('old')).to.include({ state: 'exited', exitStatus: 0 });
    expect(byName.get('broken')).to.include({ state: 'failed', exitReason: 'the guest kernel panicked' });
    const withoutAll = JSON.parse((await runMvm(['ps', '--json'], { env: run.env })).stdout) as PsRow[];
    expect(withoutAll.map((r) => r.name)).to.deep.equal(['crashed', 'inhelper', 'lost', 'web']);
  });

  it('prints only the header when there are no VMs at all', async () => {
    const empty = new FakeRunDir();
    try {
      const result = await runMvm(['ps'], { env: empty.env });
      expect(result.status).to.equal(0);
      expect(result.stdout.trim()).to.match(/^NAME\s+STATE\s+VCPUS\s+MEMORY\s+UPTIME\s+BOOT\s+PID$/);
      expect((await runMvm(['ps', '--json'], { env: empty.env })).stdout.trim()).to.equal('[]');
    } finally {
      await empty.cleanup();
    }
  });

  it('formats durations with two units at most and boot times in ms below ten seconds', () => {
    expect(formatUptime(4_999)).to.equal('4 s');
    expect(formatUptime(185_000)).to.equal('3 min 5 s');
    expect(formatUptime(3_720_000)).to.equal('1 h 2 min');
    expect(formatUptime(2 * 86_400_000 + 3 * 3_600_000)).to.equal('2 d 3 h');
    expect(formatBoot(412.4)).to.equal('412 ms');
    expect(formatBoot(12_345)).to.equal('12.3 s');
  });
});
