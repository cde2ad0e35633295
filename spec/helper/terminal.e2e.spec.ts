// The terminal on the host side of the helper VM: `mvm run` on a real
// terminal (a tmux pane) is forwarded into the helper in raw mode, a typed
// line reaches the guest's shell, and the terminal's settings are the same
// afterwards - also when mvm is ended by a signal.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/runtime/paths.js';
import { shellQuote } from '../helpers/mvm-cli.js';

const ROOT = projectRoot();
const CLI = join(ROOT, 'dist', 'bundle', 'mvm.js');
/** Helper start plus a guest boot under emulation on a loaded 2-core machine. */
const BOOT_TIMEOUT_MS = 240_000;
const POLL_MS = 500;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

describe('helper VM: terminal handling (tmux)', function () {
  this.timeout(BOOT_TIMEOUT_MS * 2);
  const session = `mvm-helper-tty-${process.pid}`;
  let runDir: string;
  let workDir: string;

  async function waitForPane(pattern: RegExp): Promise<string> {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    for (;;) {
      const pane = tmux('capture-pane', '-t', session, '-p');
      if (pattern.test(pane)) return pane;
      if (Date.now() > deadline) throw new Error(`the pane never showed ${pattern}; it shows:\n${pane}`);
      await sleep(POLL_MS);
    }
  }

  /** Starts `mvm run` in the pane with stty snapshots around it; returns the files. */
  function startRun(tag: string): { before: string; after: string; exit: string } {
    const files = { before: join(workDir, `${tag}.before`), after: join(workDir, `${tag}.after`), exit: join(workDir, `${tag}.exit`) };
    // A fresh pane per run, so nothing a previous run printed can match.
    spawnSync('tmux', ['kill-session', '-t', session]);
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', 'sh');
    const line = `stty -a > ${files.before}; MVM_RUN_DIR=${runDir} node ${shellQuote(CLI)} run; echo $? > ${files.exit}; stty -a > ${files.after}; echo DONE""-${tag}`; // the quotes keep the typed line itself from matching
    tmux('send-keys', '-t', session, line, 'Enter');
    return files;
  }

  before(function () {
    const missing = ['tmux', 'qemu-system-x86_64'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
    if (missing.length > 0 || !existsSync(join(ROOT, 'images', 'out', 'vmlinux'))) {
      this.skip(); // needs tmux, QEMU and the guest kernel, all of which `make test` installs and builds first
    }
    runDir = mkdtempSync(join(tmpdir(), 'mvm-helper-tty-run-'));
    workDir = mkdtempSync(join(tmpdir(), 'mvm-helper-tty-'));
  });

  after(function () {
    this.timeout(60_000);
    if (!runDir) return;
    spawnSync('tmux', ['kill-session', '-t', session]);
    spawnSync(process.execPath, [CLI, 'helper', 'stop'], { env: { ...process.env, MVM_RUN_DIR: runDir } });
    rmSync(runDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it('types a line into the guest shell and restores the terminal after poweroff', async () => {
    const files = startRun('poweroff');
    await waitForPane(/running inside the helper VM[\s\S]*root@mvm[^\n]*#\s*$/m);
    tmux('send-keys', '-t', session, 'echo typed-$((6*7))', 'Enter');
    await waitForPane(/typed-42/);
    tmux('send-keys', '-t', session, 'poweroff', 'Enter');
    await waitForPane(/DONE-poweroff/);
    expect(readFileSync(files.exit, 'utf8').trim()).to.equal('0');
    expect(readFileSync(files.after, 'utf8')).to.equal(readFileSync(files.before, 'utf8'));
  });

  it('restores the terminal when mvm is ended by SIGTERM', async () => {
    const files = startRun('sigterm');
    await waitForPane(/running inside the helper VM[\s\S]*root@mvm[^\n]*#\s*$/m);
    // The raw mode is visible from outside while the console is attached.
    const shellPid = tmux('list-panes', '-t', session, '-F', '#{pane_pid}').trim();
    const mvmPid = execFileSync('pgrep', ['-P', shellPid, '-f', 'mvm.js run'], { encoding: 'utf8' }).trim();
    expect(mvmPid).to.match(/^\d+$/);
    process.kill(Number(mvmPid), 'SIGTERM');
    await waitForPane(/DONE-sigterm/);
    expect(readFileSync(files.exit, 'utf8').trim()).to.equal('143');
    expect(readFileSync(files.after, 'utf8')).to.equal(readFileSync(files.before, 'utf8'));
  });
});
