// `mvm logs`, `mvm console` and `mvm inspect` against fake VMMs.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { MVM_BIN, runMvm } from '../helpers/mvm-cli.js';
import { TmuxSession } from '../helpers/tmux.js';
import { FAKE_EXITS_TOTAL, FakeRunDir, deadPid } from '../helpers/fake-vmm.js';
import type { VmInspection } from '../../src/fleet/inspect.js';

/** Ctrl-]: detaches `mvm console`. */
const ESCAPE = '\x1d';
const POLL_MS = 50;

async function until(condition: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

describe('mvm logs / console / inspect (fake VMMs)', function () {
  this.timeout(60_000);
  let run: FakeRunDir;
  beforeEach(() => {
    run = new FakeRunDir();
  });
  afterEach(async () => {
    await run.cleanup();
  });

  it('logs prints the console log as it is, bytes included', async () => {
    run.add({ name: 'chatty', console: 'line one\nline two\n\x1b[1mbold\x1b[0m\n' });
    const result = await runMvm(['logs', 'chatty'], { env: run.env });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('line one\nline two\n\x1b[1mbold\x1b[0m\n');
  });

  it('logs -f prints what is appended and ends once the VM has stopped', async () => {
    const vm = await run.add({ name: 'follow', console: 'boot\n' }).listen();
    const child = spawn(process.execPath, [MVM_BIN, 'logs', '-f', 'follow'], { env: { ...process.env, ...run.env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const ended = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => out === 'boot\n', 'the log so far');
    vm.appendConsole('more\n');
    await until(() => out === 'boot\nmore\n', 'the appended line');
    let stillRunning = true;
    void ended.then(() => (stillRunning = false));
    await new Promise((r) => setTimeout(r, 1500));
    expect(stillRunning, 'follows while the VM runs').to.equal(true);
    vm.appendConsole('reboot: Power down\n');
    await vm.finish('exited', 0, null);
    expect(await ended).to.equal(0);
    expect(out).to.equal('boot\nmore\nreboot: Power down\n');
  });

  it('logs -f of a VM whose VMM is gone prints the log and ends', async () => {
    run.add({ name: 'gone', pid: await deadPid(), console: 'last words\n' });
    const result = await runMvm(['logs', '-f', 'gone'], { env: run.env });
    expect(result.status).to.equal(0);
    expect(result.stdout).to.equal('last words\n');
  });

  it('console attaches through the upgrade, relays both ways, and Ctrl-] detaches leaving the VM running', async () => {
    const vm = await run.add({ name: 'shell' }).listen();
    const child = spawn(process.execPath, [MVM_BIN, 'console', 'shell'], { env: { ...process.env, ...run.env } });
    const result = { stdout: '', stderr: '', status: null as number | null };
    child.stdout.on('data', (d: Buffer) => (result.stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (result.stderr += d.toString('utf8')));
    const ended = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => result.stdout === 'guest$ ', 'the prompt');
    child.stdin.write('echo hi\n');
    await until(() => result.stdout === 'guest$ ECHO HI\n', 'the echo');
    child.stdin.write(`${ESCAPE}ignored`);
    result.status = await ended;
    expect(result.status, result.stderr).to.equal(0);
    expect(vm.requests).to.include('UPGRADE /console');
    expect(Buffer.concat(vm.consoleInput).toString('utf8')).to.equal('echo hi\n');
    expect(result.stdout).to.equal('guest$ ECHO HI\n');
    expect(result.stderr).to.contain('Ctrl-] detaches');
    expect(result.stderr).to.contain('detached from shell (it keeps running)');
    expect(vm.currentStatus.state).to.equal('running');
    expect(vm.requests).to.not.include('POST /stop');
  });

  it('console in a real terminal: raw while attached, Ctrl-] detaches, the terminal is restored (tmux)', async () => {
    const vm = await run.add({ name: 'tty' }).listen();
    // After mvm exits, stty prints the terminal's modes: canonical input and echo must be back.
    const command = `env MVM_RUN_DIR='${run.root}' '${process.execPath}' '${MVM_BIN}' console tty; echo "status=$?"; stty -a; sleep 30`;
    const tmux = TmuxSession.start(`mvm-verbs-console-${process.pid}`, command);
    try {
      await tmux.waitFor(/guest\$ /, 20_000);
      tmux.type('ls', false);
      // Raw mode: each key goes out as typed, without waiting for Enter.
      await until(() => Buffer.concat(vm.consoleInput).toString('utf8') === 'ls', 'the keys without Enter');
      tmux.type(ESCAPE, false);
      const screen = await tmux.waitFor(/status=0[\s\S]*icanon/, 20_000);
      expect(screen).to.contain('detached from tty (it keeps running)');
      expect(screen).to.match(/(^|\s)icanon(\s|$)/m);
      expect(screen).to.match(/(^|\s)echo(\s|$)/m);
      expect(vm.currentStatus.state).to.equal('running');
    } finally {
      tmux.kill();
    }
  });

  it('console ends when the VM stops while attached', async () => {
    const vm = await run.add({ name: 'ending' }).listen();
    const child = spawn(process.execPath, [MVM_BIN, 'console', 'ending'], { env: { ...process.env, ...run.env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const ended = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => out.includes('guest$'), 'the prompt');
    await vm.finish('exited', 0, null);
    expect(await ended).to.equal(0);
    expect(err).to.contain('ending stopped');
  });

  it('console refuses a VM that is not running', async () => {
    run.add({ name: 'off', state: 'exited', exitStatus: 0 });
    const result = await runMvm(['console', 'off'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.equal('mvm: VM off is not running (exited); see mvm logs off\n');
  });

  it('inspect prints record, state, shown state and the live info and stats as a JSON array', async () => {
    await run.add({ name: 'live', cpus: 2 }).listen();
    run.add({ name: 'dead', pid: await deadPid() });
    const result = await runMvm(['inspect', 'live', 'dead', 'missing'], { env: run.env });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.equal('mvm: no VM named missing\n');
    const [live, dead] = JSON.parse(result.stdout) as VmInspection[];
    expect(live!.name).to.equal('live');
    expect(live!.shown).to.deep.equal({ state: 'running', reason: null });
    expect(live!.record!.cpus).to.equal(2);
    expect(live!.status!.state).to.equal('running');
    expect(live!.info!.uptimeMs).to.equal(65_000);
    expect(live!.stats!.exits.total).to.equal(FAKE_EXITS_TOTAL);
    expect(dead!.shown).to.deep.equal({ state: 'dead', reason: 'VMM process gone' });
    expect(dead!.info).to.equal(null);
    expect(dead!.stats).to.equal(null);
  });
});
