// The dashboard's stats source against fake VMMs on real unix sockets in a
// temporary runtime root: rates and history from successive polls, the
// states of VMs that do not answer, a counter reset, and stop requests.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_PATHS } from '../../src/api/schema.js';
import { StatsSource, type VmView } from '../../src/tui/stats-source.js';
import { stateLabel } from '../../src/tui/vm-table.js';
import { FakeVmApi } from '../helpers/fake-api.js';

/** A round waits this long for every fake: these specs check what a round yields, not how fast. */
const ROUND_WAIT_MS = 15_000;
/** Rounds that end before the wedged VM could ever answer; enough of them for the healthy one to, even on a loaded machine. */
const SHORT_ROUND_MS = 100;
const SHORT_ROUNDS = 100;
/** Enough wall time between two polls for the fakes' counters to move by whole units. */
const BETWEEN_POLLS_MS = 200;

/** A pid that certainly belongs to no process any more. */
function gonePid(): number {
  return spawnSync('true').pid!;
}

describe('tui: stats source', function () {
  this.timeout(ROUND_WAIT_MS + SHORT_ROUND_MS * SHORT_ROUNDS);
  let runDir: string;
  let fakes: FakeVmApi[];
  let source: StatsSource;

  beforeEach(() => {
    runDir = mkdtempSync(join(tmpdir(), 'mvm-top-source-'));
    fakes = [];
    source = new StatsSource({ env: { MVM_RUN_DIR: runDir }, requestTimeoutMs: 2000 });
  });

  afterEach(async () => {
    await Promise.all(fakes.map((f) => f.remove()));
    rmSync(runDir, { recursive: true, force: true });
  });

  async function fake(options: Parameters<typeof FakeVmApi.start>[1]): Promise<FakeVmApi> {
    const started = await FakeVmApi.start(runDir, options);
    fakes.push(started);
    return started;
  }

  const byName = (views: readonly VmView[], name: string): VmView => views.find((v) => v.name === name)!;

  it('shows no VMs when the runtime root has none', async () => {
    expect(await source.poll(ROUND_WAIT_MS)).to.deep.equal([]);
  });

  it("computes every VM's rates from two polls and keeps their history", async () => {
    await fake({ name: 'web-1', cpuFraction: 0.25, exitsPerSecond: 5000 });
    await fake({ name: 'db-2', cpuFraction: 0.5, exitsPerSecond: 100 });
    const first = await source.poll(ROUND_WAIT_MS);
    expect(first.map((v) => [v.name, v.state, v.rates])).to.deep.equal([
      ['db-2', 'running', null],
      ['web-1', 'running', null],
    ]);
    expect(byName(first, 'web-1').stats!.memory.guestTouchedBytes).to.be.greaterThan(0);
    await sleep(BETWEEN_POLLS_MS);
    await source.poll(ROUND_WAIT_MS);
    await sleep(BETWEEN_POLLS_MS);
    const third = await source.poll(ROUND_WAIT_MS);
    const web = byName(third, 'web-1');
    const db = byName(third, 'db-2');
    expect(web.rates!.cpuPercent).to.be.closeTo(25, 1);
    expect(db.rates!.cpuPercent).to.be.closeTo(50, 1);
    expect(web.rates!.exitsPerSecond).to.be.closeTo(5000, 100);
    expect(web.rates!.diskReadBytesPerSecond).to.be.greaterThan(0);
    expect(web.rates!.netRxBytesPerSecond).to.be.greaterThan(0);
    expect(web.cpuHistory).to.have.length(2);
    expect(web.exitsHistory).to.have.length(2);
    expect(web.info!.cpus).to.equal(1);
    expect(web.apiError).to.equal(null);
  });

  it('bounds the history', async () => {
    const small = new StatsSource({ env: { MVM_RUN_DIR: runDir }, historyLength: 2 });
    await fake({ name: 'web-1' });
    for (let i = 0; i < 5; i++) {
      await small.poll(ROUND_WAIT_MS);
      await sleep(20);
    }
    expect(small.views()[0]!.cpuHistory).to.have.length(2);
  });

  it('shows a VMM whose process is gone as dead, and one whose socket is silent as unreachable', async () => {
    const gone = await fake({ name: 'gone', pid: gonePid() });
    const silent = await fake({ name: 'silent' }); // pid: this process, alive
    await source.poll(ROUND_WAIT_MS);
    await gone.die();
    await silent.die();
    const views = await source.poll(ROUND_WAIT_MS);
    expect(byName(views, 'gone')).to.include({ state: 'dead', reason: 'VMM process gone', stats: null, rates: null });
    const wedged = byName(views, 'silent');
    expect(wedged.state).to.equal('running');
    expect(wedged.apiError).to.match(/API socket does not answer: ENOENT/);
    expect(stateLabel(wedged)).to.equal('unreachable');
  });

  it('shows an exited VM with its status without asking its (closed) API', async () => {
    const done = await fake({ name: 'done' });
    await done.exit(3);
    const views = await source.poll(ROUND_WAIT_MS);
    expect(views[0]).to.include({ name: 'done', state: 'exited', reason: 'exit status 3', stats: null });
  });

  it('shows an API that answers with something else as unreachable, not as numbers', async () => {
    const weird = await fake({ name: 'weird' });
    await weird.die();
    const server = createServer((_req, res) => res.end('{"hello": 1}'));
    await new Promise<void>((resolve) => server.listen(weird.socketPath, resolve));
    try {
      const view = (await source.poll(ROUND_WAIT_MS))[0]!;
      expect(view.stats).to.equal(null);
      expect(view.apiError).to.match(/not with mvm's \/vm and \/stats/);
    } finally {
      server.close();
    }
  });

  it('starts the rates over when a new VMM takes the name (counters reset)', async () => {
    const old = await fake({ name: 'web-1' });
    await source.poll(ROUND_WAIT_MS);
    await sleep(BETWEEN_POLLS_MS);
    expect((await source.poll(ROUND_WAIT_MS))[0]!.rates).not.to.equal(null);
    await old.remove();
    fakes.splice(fakes.indexOf(old), 1);
    await fake({ name: 'web-1' });
    expect((await source.poll(ROUND_WAIT_MS))[0]!.rates).to.equal(null);
    await sleep(BETWEEN_POLLS_MS);
    expect((await source.poll(ROUND_WAIT_MS))[0]!.rates).not.to.equal(null);
  });

  it('sends a stop to the VM asked for only, and refuses one that is not running', async () => {
    const web = await fake({ name: 'web-1' });
    const db = await fake({ name: 'db-2' });
    const gone = await fake({ name: 'gone', pid: gonePid() });
    await gone.die();
    await source.poll(ROUND_WAIT_MS);
    expect(await source.requestStop('web-1')).to.deep.equal({ sent: true, message: 'stopping web-1' });
    expect(web.requests.filter((r) => r.method === 'POST').map((r) => r.path)).to.deep.equal([API_PATHS.stop]);
    expect(db.stopRequests()).to.equal(0);
    expect(await source.requestStop('gone')).to.deep.equal({ sent: false, message: 'gone is not running (dead)' });
    const views = await source.poll(ROUND_WAIT_MS);
    expect(byName(views, 'web-1')).to.include({ state: 'stopping', stopRequested: true });
    expect(byName(views, 'db-2').stopRequested).to.equal(false);
  });

  it('does not hold the other rows hostage to a VMM that accepts but never answers', async () => {
    await fake({ name: 'web-1' });
    const wedged = await fake({ name: 'wedged' });
    await wedged.die();
    const silentServer = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => silentServer.listen(wedged.socketPath, resolve));
    const patient = new StatsSource({ env: { MVM_RUN_DIR: runDir }, requestTimeoutMs: 600_000 });
    try {
      // Only the healthy VM can end this round early; the wedged one's request runs on.
      let views = await patient.poll(SHORT_ROUND_MS);
      for (let i = 0; i < SHORT_ROUNDS && byName(views, 'web-1').stats === null; i++) views = await patient.poll(SHORT_ROUND_MS);
      expect(byName(views, 'web-1').stats).not.to.equal(null);
      expect(byName(views, 'wedged')).to.include({ state: 'running', reason: 'waiting for the API to answer', stats: null });
    } finally {
      silentServer.closeAllConnections();
      silentServer.close();
    }
  });
});
