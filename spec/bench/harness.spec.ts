// The process timer every benchmark contender goes through: marker and exit
// are both seen, failures are told apart, stuck processes are killed.
import { expect } from 'chai';
import { describeFailure, requireMarker, timeProcess } from '../../src/bench/harness.js';

describe('bench harness: timing a process', function () {
  this.timeout(20_000);

  it('sees the marker before the exit, and keeps the output and status', async () => {
    const run = await timeProcess('sh', ['-c', 'echo before; sleep 0.1; echo MARK-1; sleep 0.1; echo after >&2; exit 3'], { marker: 'MARK-1' });
    expect(run.status).to.equal(3);
    expect(run.markerMs).to.be.a('number');
    expect(run.markerMs!).to.be.at.most(run.wallMs);
    expect(run.stdout).to.equal('before\nMARK-1\n');
    expect(run.stderr).to.equal('after\n');
  });

  it('leaves markerMs undefined when the marker never shows, and requireMarker says so', async () => {
    const run = await timeProcess('sh', ['-c', 'echo something else'], { marker: 'MARK-2' });
    expect(run.status).to.equal(0);
    expect(run.markerMs).to.equal(undefined);
    expect(() => requireMarker('the guest', run)).to.throw(/the guest \(its console never showed the marker\) exited with status 0: something else/);
  });

  it('kills a process that outlives its limit and reports the signal', async () => {
    const run = await timeProcess('sleep', ['30'], { limitMs: 200 });
    expect(run.signal).to.equal('SIGKILL');
    expect(describeFailure('sleep', run)).to.equal('sleep was killed by SIGKILL');
  });

  it('rejects with one line when the command cannot be started', async () => {
    let error: Error | undefined;
    try {
      await timeProcess('/nonexistent/mvm-bench-tool', []);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.match(/^cannot start \/nonexistent\/mvm-bench-tool: .*ENOENT/);
  });
});
