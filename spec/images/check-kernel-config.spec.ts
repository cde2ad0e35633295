// images/check-kernel-config.sh: the guard that fails the kernel build when
// olddefconfig drops or changes an option of the fragment.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES_DIR } from './paths.js';

const CHECK = path.join(IMAGES_DIR, 'check-kernel-config.sh');

describe('kernel config check (images/check-kernel-config.sh)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-kconfig-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function check(fragment: string, config: string) {
    fs.writeFileSync(path.join(dir, 'fragment'), fragment);
    fs.writeFileSync(path.join(dir, '.config'), config);
    return spawnSync(CHECK, [path.join(dir, 'fragment'), path.join(dir, '.config')], { encoding: 'utf8' });
  }

  const FRAGMENT = [
    '# comment lines and blank lines are ignored',
    '',
    'CONFIG_SMP=y',
    'CONFIG_SERIAL_8250_NR_UARTS=1',
    'CONFIG_CMDLINE="a b"',
    '# CONFIG_PCI is not set',
    '# CONFIG_ACPI is not set',
  ].join('\n');

  it('accepts a .config holding every line (an unset option may be absent)', () => {
    const r = check(FRAGMENT, 'CONFIG_SMP=y\nCONFIG_SERIAL_8250_NR_UARTS=1\nCONFIG_CMDLINE="a b"\n# CONFIG_PCI is not set\nCONFIG_X=y\n');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.equal('');
  });

  it('names an option olddefconfig dropped', () => {
    const r = check(FRAGMENT, '# CONFIG_SMP is not set\nCONFIG_SERIAL_8250_NR_UARTS=1\nCONFIG_CMDLINE="a b"\n');
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal('check-kernel-config: not applied: CONFIG_SMP=y (the .config has: # CONFIG_SMP is not set)\n');
  });

  it('names an option whose value changed, or that is missing altogether', () => {
    const r = check(FRAGMENT, 'CONFIG_SERIAL_8250_NR_UARTS=4\nCONFIG_CMDLINE="a b"\n');
    expect(r.status).to.equal(1);
    expect(r.stdout).to.contain('not applied: CONFIG_SERIAL_8250_NR_UARTS=1 (the .config has: CONFIG_SERIAL_8250_NR_UARTS=4)');
    expect(r.stdout).to.contain('not applied: CONFIG_SMP=y (the .config has: absent)');
  });

  it('names an option the fragment turns off but the .config has on', () => {
    const r = check(FRAGMENT, 'CONFIG_SMP=y\nCONFIG_SERIAL_8250_NR_UARTS=1\nCONFIG_CMDLINE="a b"\nCONFIG_ACPI=y\n');
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal('check-kernel-config: not applied: # CONFIG_ACPI is not set (the .config has: CONFIG_ACPI=y)\n');
  });

  it('does not take an option for a longer one sharing its prefix', () => {
    const r = check('CONFIG_SMP=y\n', 'CONFIG_SMP_EXTRA=y\n');
    expect(r.status).to.equal(1);
    expect(r.stdout).to.contain('(the .config has: absent)');
  });
});
