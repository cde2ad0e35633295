// firmware/init/mvm-init-lib.sh on the host, under the same busybox sh and
// applets the guest runs, with a stand-in for devmem that prints its arguments.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GUEST_SIGNAL_BASE,
  GUEST_SIGNAL_BOOT_MAGIC,
  GUEST_SIGNAL_BOOT_OFFSET,
  GUEST_SIGNAL_EXIT_OFFSET,
  GUEST_SIGNAL_STOP_OFFSET,
} from '../../src/arch/x86_64/layout.js';
import { INIT_DIR } from './paths.js';

const LIB = path.join(INIT_DIR, 'mvm-init-lib.sh');
const BUSYBOX = '/bin/busybox';
/** What the stand-in devmem prints before its arguments. */
const DEVMEM_TAG = 'devmem:';

interface ShellResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('guest init library (firmware/init/mvm-init-lib.sh)', () => {
  let appletDir: string;

  before(() => {
    appletDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-applets-'));
    execFileSync(BUSYBOX, ['--install', '-s', appletDir]);
  });
  after(() => fs.rmSync(appletDir, { recursive: true, force: true }));

  /** Runs SCRIPT after sourcing the library; devmem is replaced unless told otherwise. */
  function run(script: string, env: Record<string, string> = { MVM_DEVMEM: `echo ${DEVMEM_TAG}` }): ShellResult {
    const result = spawnSync(BUSYBOX, ['sh', '-c', `. '${LIB}'\n${script}`], {
      env: { PATH: appletDir, ...env },
      encoding: 'utf8',
      cwd: appletDir,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

  describe('mvm_cmd_from_cmdline', () => {
    it('returns the value of mvm.cmd= among other parameters', () => {
      const r = run(`mvm_cmd_from_cmdline 'console=ttyS0 mvm.cmd=ZWNobyBoaQ== reboot=k'`);
      expect(r).to.deep.include({ status: 0, stdout: 'ZWNobyBoaQ==\n' });
    });

    it('fails without printing when there is no mvm.cmd=', () => {
      expect(run(`mvm_cmd_from_cmdline 'console=ttyS0 xmvm.cmd=abcd mvm.cmdx=abcd'`)).to.deep.include({ status: 1, stdout: '' });
    });

    it('takes the last mvm.cmd=, as the kernel does for repeated parameters', () => {
      expect(run(`mvm_cmd_from_cmdline 'mvm.cmd=AAAA mvm.cmd=BBBB'`).stdout).to.equal('BBBB\n');
    });

    it('does not expand * in the command line as a file pattern', () => {
      // cwd is the applet folder, full of names a glob would match.
      const r = run(`mvm_cmd_from_cmdline '* mvm.cmd=* console=ttyS0'; echo "after: $(echo *| wc -w)"`);
      expect(r.stdout.split('\n')[0]).to.equal('*');
      expect(r.stdout).to.not.match(/after: 1\n/); // globbing is back on afterwards
    });
  });

  describe('mvm_decode_cmd', () => {
    it('round-trips a command with quotes, $, newlines and non-ASCII text', () => {
      const command = `echo "a  b" 'c$HOME' \\\nprintf '%s\\n' "é ü"; exit 3`;
      const r = run(`mvm_decode_cmd '${base64(command)}'`);
      expect(r).to.deep.include({ status: 0, stdout: `${command}\n` });
    });

    for (const [what, value] of [
      ['empty', ''],
      ['a character outside base64', 'ZWNo*yBoaQ=='],
      ['a length not a multiple of 4', 'ZWNobyBoaQ'],
      ['a space', 'ZWNo byBoaQ=='],
      ['an empty command', base64('')],
    ] as const) {
      it(`rejects ${what}`, () => {
        expect(run(`mvm_decode_cmd '${value}'`)).to.deep.include({ status: 1, stdout: '' });
      });
    }
  });

  describe('mvm_exit_status', () => {
    for (const [input, expected] of [
      ['0', '0'],
      ['3', '3'],
      ['255', '255'],
      ['256', '1'],
      ['007', '7'],
      ['010', '10'],
      ['000', '0'],
      ['', '1'],
      ['abc', '1'],
      ['-1', '1'],
      ['99999999999999999999', '1'],
    ] as const) {
      it(`maps "${input}" to ${expected}`, () => {
        expect(run(`mvm_exit_status '${input}'`).stdout).to.equal(`${expected}\n`);
      });
    }
  });

  describe('the guest-signal device', () => {
    it('uses the addresses and magic value of src/arch/x86_64/layout.ts', () => {
      const r = run('echo "$MVM_SIGNAL_BOOT_ADDRESS $MVM_BOOT_MAGIC $MVM_SIGNAL_EXIT_ADDRESS $MVM_SIGNAL_STOP_ADDRESS"');
      const [boot, magic, exit, stop] = r.stdout.trim().split(' ').map(Number);
      expect(boot).to.equal(GUEST_SIGNAL_BASE + GUEST_SIGNAL_BOOT_OFFSET);
      expect(magic).to.equal(GUEST_SIGNAL_BOOT_MAGIC);
      expect(exit).to.equal(GUEST_SIGNAL_BASE + GUEST_SIGNAL_EXIT_OFFSET);
      expect(stop).to.equal(GUEST_SIGNAL_BASE + GUEST_SIGNAL_STOP_OFFSET);
    });

    it('signals boot complete with an 8-bit write of the magic value', () => {
      expect(run('mvm_signal_boot_complete').stdout).to.equal(`${DEVMEM_TAG} 0xc0000000 8 123\n`);
    });

    it('requests power-off with a 32-bit write of the exit status', () => {
      expect(run('mvm_request_power_off 42').stdout).to.equal(`${DEVMEM_TAG} 0xc0000004 32 42\n`);
      expect(run('mvm_request_power_off bogus').stdout).to.equal(`${DEVMEM_TAG} 0xc0000004 32 1\n`);
    });

    it('refuses to touch physical memory outside a guest (not PID 1, no MVM_GUEST=1)', () => {
      // A shell function shadows the devmem applet, so nothing real is written even if the guard failed.
      const r = run(`devmem() { echo "REAL DEVMEM $*"; }\nmvm_signal_boot_complete; echo "status $?"`, {});
      expect(r.stdout).to.equal('status 1\n');
      expect(r.stderr).to.contain('refusing to write physical memory');
    });

    it('uses devmem inside a guest, where MVM_GUEST=1 is inherited from /init', () => {
      const r = run(`devmem() { echo "devmem $*"; }\nmvm_signal_boot_complete`, { MVM_GUEST: '1' });
      expect(r.stdout).to.equal('devmem 0xc0000000 8 123\n');
    });
  });

  describe('the stop watcher', () => {
    /**
     * A stand-in devmem that answers reads of the stop register from a list of
     * values, one per call (the last repeats), logging each read; writes are echoed.
     */
    const stateDirs: string[] = [];
    after(() =>
      stateDirs.forEach((dir) => {
        fs.rmSync(dir, { recursive: true, force: true });
      }),
    );

    function standIns(values: string[]): Record<string, string> {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-stop-'));
      stateDirs.push(dir);
      const script = path.join(dir, 'devmem');
      fs.writeFileSync(
        script,
        [
          '#!/bin/busybox sh',
          `echo "$*" >> '${dir}/calls'`,
          `n=$(cat '${dir}/count' 2>/dev/null || echo 0); echo $((n + 1)) > '${dir}/count'`,
          `set -- ${values.map((v) => `'${v}'`).join(' ')}`,
          'i=0; for v; do i=$((i + 1)); last=$v; [ $i -gt $n ] && break; done',
          'echo "$last"',
        ].join('\n'),
        { mode: 0o755 },
      );
      return { MVM_DEVMEM: script, MVM_POWEROFF: 'echo POWEROFF', STATE_DIR: dir };
    }

    it('reads the stop register with a 32-bit devmem read', () => {
      const env = standIns(['0x00000000']);
      expect(run('mvm_stop_requested; echo "status $?"', env).stdout).to.equal('status 1\n');
      expect(fs.readFileSync(path.join(env.STATE_DIR!, 'calls'), 'utf8')).to.equal('0xc0000008 32\n');
    });

    for (const [value, requested] of [
      ['0x00000001', true],
      ['0x00000000', false],
      ['0xFFFFFFFF', false],
      ['garbage; rm -rf /', false],
      ['', false],
    ] as const) {
      it(`takes ${JSON.stringify(value)} as ${requested ? 'a stop request' : 'no stop request'}`, () => {
        const env = standIns([value]);
        expect(run('mvm_stop_requested && echo yes || echo no', env).stdout).to.equal(requested ? 'yes\n' : 'no\n');
      });
    }

    it('polls until the register reads 1, then says so on the console and shuts down the normal way', () => {
      const env = standIns(['0x00000000', '0x00000000', '0x00000000', '0x00000001']);
      // No pause between looks here; the guest's is MVM_STOP_POLL_SECONDS.
      const r = run('MVM_STOP_POLL_SECONDS=0; mvm_watch_stop_requests; echo "returned $?"', env);
      expect(r.stdout).to.equal('mvm-init: the host asked the VM to stop; powering off\nPOWEROFF\nreturned 0\n');
      expect(fs.readFileSync(path.join(env.STATE_DIR!, 'count'), 'utf8').trim()).to.equal('4');
    });

    it('refuses to power off a machine that is not an mvm guest', () => {
      const r = run(`poweroff() { echo "REAL POWEROFF"; }\nmvm_request_shutdown; echo "returned $?"`, {});
      expect(r.stdout).to.equal('returned 1\n');
      expect(r.stderr).to.contain('refusing to power the machine off');
    });
  });

  describe('mvm_power_off', () => {
    const standIns = { MVM_DEVMEM: `echo ${DEVMEM_TAG}`, MVM_RESET: 'echo reset' };

    it('drains the console, requests power-off with the status, then falls back to a reset', () => {
      const r = run('mvm_power_off 9; echo "returned $?"', standIns);
      expect(r.stdout).to.equal(`${DEVMEM_TAG} 0xc0000004 32 9\nreset\nreturned 1\n`);
      expect(r.stderr).to.contain('no power-off device answered (exit status 9)');
    });

    it('refuses to reset a machine that is not an mvm guest', () => {
      // busybox's reboot is shadowed too: nothing must reboot this host even if the guard failed.
      const r = run(`busybox() { echo "REAL $*"; }\nmvm_power_off 0; echo "returned $?"`, { MVM_DEVMEM: `echo ${DEVMEM_TAG}` });
      expect(r.stdout).to.equal(`${DEVMEM_TAG} 0xc0000004 32 0\nreturned 1\n`);
      expect(r.stderr).to.contain('refusing to reset the machine');
    });
  });
});
