// `mvm top`'s command line: refused in one line without a terminal (scripts
// get pointed at mvm ps) and with a nonsensical --interval.
import { expect } from 'chai';
import { runMvm } from '../helpers/mvm-cli.js';

describe('mvm top (command line)', () => {
  it('needs a terminal, and says what to use instead', async () => {
    const result = await runMvm(['top'], { env: { MVM_RUN_DIR: '/nonexistent-mvm-top' } });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.equal('mvm: mvm top needs a terminal; for a listing in scripts use mvm ps (or mvm ps --json)\n');
    expect(result.stdout).to.equal('');
  });

  it('refuses an interval outside 0.2–60 seconds', async () => {
    for (const interval of ['0', 'fast', '100']) {
      const result = await runMvm(['top', '--interval', interval]);
      expect(result.status, interval).to.equal(2);
      expect(result.stderr).to.equal(`mvm: --interval must be a number of seconds from 0.2 to 60, not "${interval}"\n`);
    }
  });
});
