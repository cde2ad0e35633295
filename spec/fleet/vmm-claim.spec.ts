// Claiming VM names (src/fleet/vm-claim.ts): one mkdir decides, so of two
// claims of one name exactly one wins, also between separate processes.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { claimNameOrGenerate, claimVmDir, NameTaken } from '../../src/fleet/vm-claim.js';
import { withNameArgument } from '../../src/fleet/detach.js';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const CLAIM_MODULE = resolve(PROJECT_ROOT, 'dist/src/fleet/vm-claim.js');

/** Runs claimVmDir(name) in a fresh node process; resolves to "won" or the error's name. */
function claimInChild(runDir: string, name: string): Promise<string> {
  const script = `import { claimVmDir } from ${JSON.stringify(CLAIM_MODULE)};
try { claimVmDir(${JSON.stringify(name)}); console.log('won'); } catch (err) { console.log(err.name); }`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, MVM_RUN_DIR: runDir } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolvePromise(out.trim()));
  });
}

describe('claiming a VM name', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-claim-'));
    env = { MVM_RUN_DIR: join(dir, 'run') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates vms/<name>/ owner-only; a second claim of the name is refused with the mvm rm hint', () => {
    const vmDir = claimVmDir('web', env);
    expect(vmDir).to.equal(join(dir, 'run', 'vms', 'web'));
    expect(statSync(vmDir).mode & 0o777).to.equal(0o700);
    expect(() => claimVmDir('web', env)).to.throw(NameTaken, 'a VM named web already exists (mvm rm web)');
  });

  it('refuses an invalid name before creating anything', () => {
    expect(() => claimVmDir('../etc', env)).to.throw(/not a valid VM name/);
    expect(existsSync(join(dir, 'run', 'vms'))).to.equal(false);
  });

  it('two processes claiming one name at once: exactly one wins', async function () {
    this.timeout(20_000);
    const runDir = join(dir, 'run');
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([claimInChild(runDir, `race-${round}`), claimInChild(runDir, `race-${round}`)]);
      expect(results.sort()).to.deep.equal(['NameTaken', 'won']);
    }
  });

  it('a generated name that is taken is drawn again; a given one is not', () => {
    claimVmDir('calm-otter-0001', env);
    const names = ['calm-otter-0001', 'calm-otter-0001', 'keen-lynx-0002'];
    expect(claimNameOrGenerate(undefined, () => names.shift()!, env)).to.equal('keen-lynx-0002');
    expect(() => claimNameOrGenerate('calm-otter-0001', () => 'x', env)).to.throw(NameTaken);
  });

  it('puts --name right after the command word when forwarding, so it stays before any "--"', () => {
    expect(withNameArgument(['run', '-d', '--', 'sleep', '9'], 'web')).to.deep.equal(['run', '--name', 'web', '-d', '--', 'sleep', '9']);
  });
});
