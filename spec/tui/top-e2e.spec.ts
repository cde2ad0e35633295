// `mvm top` against two real detached VMs (booted through the helper VM on
// hosts whose KVM cannot run Linux guests): in a tmux pane both rows show
// running with non-zero CPU %, exits/s and memory (guest touched + VMM), and
// q hands the terminal back unchanged. The VMs are removed afterwards.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { vmDir } from '../../src/fleet/vm-dir.js';
import { MVM_BIN, PROJECT_ROOT, runMvm, shellQuote } from '../helpers/mvm-cli.js';
import { TmuxSession } from '../helpers/tmux.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const INITRD = resolve(PROJECT_ROOT, 'images/out/initramfs.cpio.gz');
/** Small guests: both share the helper VM's memory with whatever else runs there. */
const GUEST_MEMORY = '128M';
/** A cold helper VM plus two boots under emulation on a loaded machine. */
const BOOT_TIMEOUT_MS = 400_000;
/** Time for top to start and take a few samples of both VMs through the relay. */
const STATS_TIMEOUT_MS = 90_000;
const POLL_MS = 500;

interface Row {
  readonly state: string;
  readonly cpu: number;
  readonly guestMemory: string;
  readonly vmmMemory: string;
  readonly exitsPerSecond: string;
}

/** The row of `name` on the captured screen, or null while it is not there. */
function row(screen: string, name: string): Row | null {
  const line = screen.split('\n').find((l) => new RegExp(`${name}\\s+[a-z]+\\s`).test(l));
  if (!line) return null;
  const [state, cpu, memory, exits] = line
    .slice(line.indexOf(name) + name.length)
    .trim()
    .split(/\s+/);
  const [guestMemory, vmmMemory] = (memory ?? '').split('+');
  return { state: state!, cpu: Number(cpu), guestMemory: guestMemory ?? '', vmmMemory: vmmMemory ?? '', exitsPerSecond: exits ?? '' };
}

const nonZeroSize = /^(\d*[1-9][\d.]*|\d+\.\d*[1-9])[KMG]?$/;

function busy(r: Row | null): boolean {
  return (
    r !== null &&
    r.state === 'running' &&
    r.cpu > 0 &&
    /^[1-9][\d.]*k?$/.test(r.exitsPerSecond) &&
    nonZeroSize.test(r.guestMemory) &&
    nonZeroSize.test(r.vmmMemory)
  );
}

describe('mvm top end to end (two detached VMs)', function () {
  this.timeout(BOOT_TIMEOUT_MS + STATS_TIMEOUT_MS * 2);
  const names = [`top-e2e-a-${process.pid}`, `top-e2e-b-${process.pid}`];
  let session: TmuxSession | undefined;
  let workDir: string;

  before(async function () {
    for (const file of [KERNEL, INITRD]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    if (spawnSync('sh', ['-c', 'command -v tmux']).status !== 0) this.skip(); // `make deps` installs tmux
    workDir = mkdtempSync(join(tmpdir(), 'mvm-top-e2e-'));
    const started = await Promise.all(names.map((name) => runMvm(['run', '-d', '--name', name, '-m', GUEST_MEMORY], { timeoutMs: BOOT_TIMEOUT_MS })));
    started.forEach((result, i) => {
      expect(result.status, `run -d ${names[i]}: ${result.stdout}${result.stderr}`).to.equal(0);
    });
  });

  after(async function () {
    this.timeout(120_000);
    session?.kill();
    const left = names.filter((name) => existsSync(vmDir(name)));
    if (left.length > 0) {
      const removed = await runMvm(['rm', '-f', ...left]);
      expect(removed.status, `mvm rm -f ${left.join(' ')}: ${removed.stderr}`).to.equal(0);
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('shows both VMs running with non-zero CPU, exits/s and memory; q restores the terminal', async () => {
    const before = join(workDir, 'before');
    const after = join(workDir, 'after');
    const exit = join(workDir, 'exit');
    session = TmuxSession.start(`mvm-top-e2e-${process.pid}`, 'sh', { columns: 120, rows: 40 });
    session.type(`stty -a > ${before}; node ${shellQuote(MVM_BIN)} top; echo $? > ${exit}; stty -a > ${after}; echo DONE""-e2e`);
    const deadline = Date.now() + STATS_TIMEOUT_MS;
    let screen = session.screen();
    while (!names.every((name) => busy(row(screen, name)))) {
      if (Date.now() > deadline) throw new Error(`both VMs never showed non-zero stats; the screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
      screen = session.screen();
    }
    execFileSync('tmux', ['-L', session.name, 'send-keys', '-t', session.name, 'q']);
    await session.waitFor(/DONE-e2e/, STATS_TIMEOUT_MS);
    expect(readFileSync(exit, 'utf8').trim()).to.equal('0');
    expect(readFileSync(after, 'utf8')).to.equal(readFileSync(before, 'utf8'));
  });
});
