// The guests' init library in a container (the runc side runs the same
// /init): with `container` set it never touches the VM-only devices, takes
// the command from MVM_CMD instead of the kernel command line, and ends by
// exiting with the command's status instead of powering off. Run on the host
// with the busybox sh and applets the guest has.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const LIB = path.join(PROJECT_ROOT, 'firmware/init/mvm-init-lib.sh');
const BUSYBOX = '/bin/busybox';

describe('guest init library in a container (firmware/init, runc side)', () => {
  let appletDir: string;

  before(() => {
    appletDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-container-init-'));
    execFileSync(BUSYBOX, ['--install', '-s', appletDir]);
  });
  after(() => fs.rmSync(appletDir, { recursive: true, force: true }));

  function run(script: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(BUSYBOX, ['sh', '-c', `. '${LIB}'\n${script}`], { env: { PATH: appletDir, ...env }, encoding: 'utf8', cwd: appletDir });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('knows a container by the `container` variable, and is then not an mvm guest even with MVM_GUEST=1', () => {
    expect(run('mvm_in_container && echo yes', { container: 'mvm' }).stdout).to.equal('yes\n');
    expect(run('mvm_in_container || echo no', {}).stdout).to.equal('no\n');
    expect(run('mvm_in_guest || echo "not a guest"', { container: 'mvm', MVM_GUEST: '1' }).stdout).to.equal('not a guest\n');
    expect(run('mvm_in_guest && echo guest', { MVM_GUEST: '1' }).stdout).to.equal('guest\n');
  });

  it('takes the encoded command from MVM_CMD in a container, and fails without one', () => {
    expect(run('mvm_encoded_cmd', { container: 'mvm', MVM_CMD: 'ZWNobyBoaQ==' })).to.deep.include({ status: 0, stdout: 'ZWNobyBoaQ==\n' });
    expect(run('mvm_encoded_cmd', { container: 'mvm' })).to.deep.include({ status: 1, stdout: '' });
  });

  it('exits with the status instead of writing to the power-off device', () => {
    const r = run('mvm_power_off 7; echo "still here"', { container: 'mvm', MVM_DEVMEM: 'echo devmem:' });
    expect(r.status).to.equal(7);
    expect(r.stdout).to.equal('');
    expect(run('mvm_power_off bogus', { container: 'mvm' }).status).to.equal(1);
  });

  it('refuses devmem in a container, where /dev/mem is not the guest-signal device', () => {
    const r = run('mvm_signal_boot_complete; echo "status $?"', { container: 'mvm' });
    expect(r.stdout).to.equal('status 1\n');
    expect(r.stderr).to.match(/refusing to write physical memory/);
  });
});
