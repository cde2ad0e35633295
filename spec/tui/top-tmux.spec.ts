// `mvm top` in a real terminal (a tmux pane) against two fake VMMs serving
// the API on unix sockets: both VMs show with non-zero stats, ↓ moves the
// selection, `s` stops the selected VM only, `c` attaches its console and
// Ctrl-] comes back, a resize redraws at the new width, and `q` (or SIGTERM)
// leaves the terminal exactly as it was.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeVmApi } from '../helpers/fake-api.js';
import { MVM_BIN, shellQuote } from '../helpers/mvm-cli.js';
import { TmuxSession } from '../helpers/tmux.js';

/** Node start-up plus a few refreshes on a loaded machine. */
const SCREEN_TIMEOUT_MS = 20_000;
const COLUMNS = 110;
const ROWS = 30;
const NARROW_COLUMNS = 64;

/** The cells after a VM's name on the captured screen: [state, cpu%, mem, exits/s, …]. */
function rowCells(screen: string, name: string): string[] {
  const line = screen.split('\n').find((l) => new RegExp(`${name}\\s+[a-z]+\\s`).test(l));
  if (!line) throw new Error(`no row for ${name} on the screen:\n${screen}`);
  return line
    .slice(line.indexOf(name) + name.length)
    .trim()
    .split(/\s+/);
}

describe('mvm top (tmux, fake VMMs)', function () {
  this.timeout(SCREEN_TIMEOUT_MS * 8);
  let runDir: string;
  let workDir: string;
  let web: FakeVmApi;
  let db: FakeVmApi;
  let session: TmuxSession;

  const keys = (...names: string[]): void => {
    execFileSync('tmux', ['-L', session.name, 'send-keys', '-t', session.name, ...names]);
  };

  /** In a fresh pane, types a shell line that runs mvm top between two stty snapshots; returns the snapshot files. */
  function startTop(tag: string, root = runDir): { before: string; after: string; exit: string } {
    session?.kill();
    session = TmuxSession.start(`mvm-top-${process.pid}`, 'sh', { columns: COLUMNS, rows: ROWS });
    const files = { before: join(workDir, `${tag}.before`), after: join(workDir, `${tag}.after`), exit: join(workDir, `${tag}.exit`) };
    session.type(
      `stty -a > ${files.before}; MVM_RUN_DIR=${root} node ${shellQuote(MVM_BIN)} top --interval 0.5; echo $? > ${files.exit}; stty -a > ${files.after}; echo DONE""-${tag}`,
    );
    return files;
  }

  before(async function () {
    if (spawnSync('sh', ['-c', 'command -v tmux']).status !== 0) this.skip(); // `make deps` installs tmux
    runDir = mkdtempSync(join(tmpdir(), 'mvm-top-run-'));
    workDir = mkdtempSync(join(tmpdir(), 'mvm-top-tty-'));
    web = await FakeVmApi.start(runDir, { name: 'web-1', cpuFraction: 0.3, exitsPerSecond: 4000 });
    db = await FakeVmApi.start(runDir, { name: 'db-2', cpuFraction: 0.1, exitsPerSecond: 700 });
  });

  after(async () => {
    session?.kill();
    await web?.remove();
    await db?.remove();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('shows both VMs with non-zero stats, moves, stops and attaches to the selected one, redraws on resize, and q restores the terminal', async () => {
    const files = startTop('keys');
    const screen = await session.waitFor(/db-2\s+running\s+\d+\.\d[\s\S]*web-1\s+running\s+\d+\.\d/, SCREEN_TIMEOUT_MS);
    for (const name of ['db-2', 'web-1']) {
      const [state, cpu, mem, exits] = rowCells(screen, name);
      expect(state).to.equal('running');
      expect(Number(cpu), `${name} CPU%`).to.be.greaterThan(0);
      expect(mem).to.equal('40M+30M'); // guest touched + VMM, as the fake reports
      expect(exits, `${name} exits/s`).to.match(/^[1-9][\d.]*k?$/);
    }
    expect(screen).to.contain('db-2: history'); // the first VM is selected

    keys('Down');
    await session.waitFor(/web-1: history/, SCREEN_TIMEOUT_MS);
    keys('s');
    await session.waitFor(/stopping web-1/, SCREEN_TIMEOUT_MS);
    await session.waitFor(/web-1\s+stopping/, SCREEN_TIMEOUT_MS);
    expect(web.stopRequests()).to.equal(1);
    expect(db.stopRequests()).to.equal(0);

    keys('c');
    await session.waitFor(/console of web-1/, SCREEN_TIMEOUT_MS);
    session.type('hi', false);
    await session.waitFor(/typed: "h?i"/, SCREEN_TIMEOUT_MS); // one chunk or two
    keys('C-]');
    await session.waitFor(/detached from web-1/, SCREEN_TIMEOUT_MS);
    expect(web.consoleInput).to.equal('hi');

    execFileSync('tmux', ['-L', session.name, 'resize-window', '-t', session.name, '-x', String(NARROW_COLUMNS), '-y', String(ROWS)]);
    const narrow = await session.waitFor(/NAME\s+STATE\s+CPU%\s+MEM\s+EXITS\/s\s+UPTIME\s*\S\n/, SCREEN_TIMEOUT_MS);
    expect(narrow).not.to.match(/BOOT|DISK/); // dropped to fit
    const visible = narrow.trimEnd().split('\n').slice(-ROWS); // the capture starts with the shell's scrollback
    expect(Math.max(...visible.map((l) => [...l].length))).to.be.at.most(NARROW_COLUMNS);
    expect(visible.join('\n')).to.match(/quit\n?$/); // the status line is still at the bottom
    expect(rowCells(narrow, 'web-1')[0]).to.equal('stopping');

    keys('q');
    await session.waitFor(/DONE-keys/, SCREEN_TIMEOUT_MS);
    expect(readFileSync(files.exit, 'utf8').trim()).to.equal('0');
    // Identical settings but the size, which the resize above changed on purpose.
    const settings = (file: string): string => readFileSync(file, 'utf8').replace(/rows \d+; columns \d+;/, 'rows R; columns C;');
    expect(settings(files.after)).to.equal(settings(files.before));
    expect(settings(files.after).split(/\s+/)).to.include.members(['icanon', 'echo']);
  });

  it('restores the terminal when ended by SIGTERM, and exits 143', async () => {
    const files = startTop('sigterm');
    await session.waitFor(/db-2\s+running/, SCREEN_TIMEOUT_MS);
    const shellPid = execFileSync('tmux', ['-L', session.name, 'list-panes', '-t', session.name, '-F', '#{pane_pid}'], { encoding: 'utf8' }).trim();
    const topPid = execFileSync('pgrep', ['-P', shellPid, '-f', 'mvm.js top'], { encoding: 'utf8' }).trim();
    expect(topPid).to.match(/^\d+$/);
    process.kill(Number(topPid), 'SIGTERM');
    await session.waitFor(/DONE-sigterm/, SCREEN_TIMEOUT_MS);
    expect(readFileSync(files.exit, 'utf8').trim()).to.equal('143');
    expect(readFileSync(files.after, 'utf8')).to.equal(readFileSync(files.before, 'utf8'));
    expect(readFileSync(files.after, 'utf8').split(/\s+/)).to.include.members(['icanon', 'echo']);
  });

  it('says how to start a VM when there is none', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mvm-top-empty-'));
    try {
      const files = startTop('empty', empty);
      await session.waitFor(/no VMs: start one with\s+mvm run -d --name NAME/, SCREEN_TIMEOUT_MS);
      keys('q');
      await session.waitFor(/DONE-empty/, SCREEN_TIMEOUT_MS);
      expect(readFileSync(files.exit, 'utf8').trim()).to.equal('0');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
