// End to end: a helper VM of its own (private runtime directory), driven
// through the mvm CLI exactly as a user would. Needs QEMU (the Makefile
// installs it) and builds the helper image on first use if `make images`
// has not.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteCommand } from '../../src/helper/connection.js';
import { PROTOCOL_VERSION } from '../../src/helper/protocol.js';
import { helperFiles, isProcessAlive, readHelperState } from '../../src/helper/state.js';
import { helperStateDir, projectRoot } from '../../src/runtime/paths.js';

const ROOT = projectRoot();
const CLI = join(ROOT, 'dist', 'src', 'cli', 'index.js');
const KVM_PROBE = join(ROOT, 'dist', 'spec', 'helper', 'kvm-probe.js');
/** A cold helper boots in ~11 s here; a busy shared CI machine gets far more room. */
const START_TIMEOUT_MS = 300_000;
/** Each request is well under a second when idle; leave room for a loaded host. */
const REQUEST_TIMEOUT_MS = 90_000;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function qemuMissing(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version']).status !== 0;
}

describe('helper VM (end to end)', function () {
  this.timeout(REQUEST_TIMEOUT_MS);
  let runDir: string;
  let env: NodeJS.ProcessEnv;

  function mvm(args: string[], input = ''): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  before(async function () {
    if (qemuMissing()) {
      this.skip(); // no qemu-system-x86_64: `make deps` installs it; nothing here can run without it
    }
    this.timeout(START_TIMEOUT_MS);
    runDir = mkdtempSync(join(tmpdir(), 'mvm-helper-e2e-'));
    // A private runtime root: this spec's helper is its own, so stopping it
    // cannot disturb a helper other commands on this machine are using.
    env = { ...process.env, MVM_RUN_DIR: runDir, MVM_HELPER_IDLE_SECONDS: '300' };
    delete env.MVM_IN_HELPER;
    // Two commands racing to start it: the start lock lets one boot it, the other reuses it.
    const starts = await Promise.all([mvm(['helper', 'start']), mvm(['helper', 'start'])]);
    const pids = starts.map((started) => {
      expect(started.stderr).to.equal('');
      expect(started.status, started.stderr).to.equal(0);
      return /^helper VM ready: pid (\d+)/.exec(started.stdout)?.[1];
    });
    expect(pids[0]).to.match(/^\d+$/);
    expect(pids[1]).to.equal(pids[0]);
  });

  after(async function () {
    if (!runDir) return;
    this.timeout(START_TIMEOUT_MS);
    await mvm(['helper', 'stop']);
    rmSync(runDir, { recursive: true, force: true });
  });

  it('records a running QEMU and reports it in mvm helper status', async () => {
    const state = readHelperState(helperFiles(helperStateDir({ MVM_RUN_DIR: runDir })));
    expect(state).to.not.equal(null);
    expect(isProcessAlive(state!.pid)).to.equal(true);
    const status = await mvm(['helper', 'status']);
    expect(status.status).to.equal(0);
    expect(status.stdout).to.include(`pid ${state!.pid}`);
    expect(status.stdout).to.match(/helper daemon: ready, kernel 6\.1\.0-\d+-amd64/);
  });

  it("runs commands on the helper's own kernel", async () => {
    const imageEnv = readFileSync(join(ROOT, 'images', 'out', 'helper', 'image.env'), 'utf8');
    const kernel = /^HELPER_PACKAGE=linux-image-(\S+)$/m.exec(imageEnv)![1];
    const result = await mvm(['helper', 'exec', '--', 'uname', '-r']);
    expect(result.status).to.equal(0);
    expect(result.stdout.trim()).to.equal(kernel);
    expect(result.stdout.trim()).to.not.equal(release());
  });

  it("has a hardware-style /dev/kvm that mvm's KVM layer opens and creates a VM on", async function () {
    if (!existsSync(KVM_PROBE)) this.skip(); // compiled with the specs; absent only in a partial build
    const result = await mvm(['helper', 'exec', '--', process.execPath, KVM_PROBE]);
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    expect(JSON.parse(result.stdout)).to.include({ opened: true, irqchip: true, vmCreated: true });
  });

  it('runs mvm commands in the warm node process, which sees AMD-V and no helper to recurse into', async () => {
    const result = await mvm(['helper', 'mvm', '--', 'doctor']);
    expect(result.status).to.equal(0);
    expect(result.stdout).to.include('KVM: hardware virtualization (VT-x/AMD-V), CPU flag svm');
    expect(result.stdout).to.include('running inside the helper VM');
  });

  it('propagates exit codes, signals and commands that cannot start', async () => {
    expect((await mvm(['helper', 'exec', '--', 'sh', '-c', 'exit 42'])).status).to.equal(42);
    expect((await mvm(['helper', 'exec', '--', 'sh', '-c', 'kill -TERM $$'])).status).to.equal(143);
    const missing = await mvm(['helper', 'exec', '--', 'no-such-command-here']);
    expect(missing.status).to.equal(127);
    expect(missing.stderr).to.include('cannot run no-such-command-here: ENOENT');
    const mvmError = await mvm(['helper', 'mvm', '--', 'no-such-subcommand']);
    expect(mvmError.status).to.not.equal(0);
    expect(mvmError.stderr).to.include("unknown command 'no-such-subcommand'");
  });

  it('streams stdin in and stdout/stderr out separately, and sees the same files', async () => {
    const input = 'line one\nline two\n'.repeat(2000);
    const cat = await mvm(['helper', 'exec', '--', 'sh', '-c', 'cat; echo to-stderr >&2'], input);
    expect(cat.status).to.equal(0);
    expect(cat.stdout).to.equal(input);
    expect(cat.stderr).to.equal('to-stderr\n');
    // The writable shares: a file written inside appears on the host at the same path.
    const file = join(runDir, 'written-inside');
    expect((await mvm(['helper', 'exec', '--', 'sh', '-c', `echo from-helper > ${file}`])).status).to.equal(0);
    expect(readFileSync(file, 'utf8')).to.equal('from-helper\n');
  });

  it('runs two requests at the same time', async () => {
    // Each waits for the other's file: they finish only if both run at once.
    const a = join(runDir, 'a');
    const b = join(runDir, 'b');
    const waitFor = (mine: string, theirs: string): string =>
      `touch ${mine}; i=0; while [ ! -e ${theirs} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e ${theirs} ] && echo met`;
    const [first, second] = await Promise.all([
      mvm(['helper', 'exec', '--', 'sh', '-c', waitFor(a, b)]),
      mvm(['helper', 'exec', '--', 'sh', '-c', waitFor(b, a)]),
    ]);
    expect([first.status, second.status]).to.deep.equal([0, 0]);
    expect([first.stdout, second.stdout]).to.deep.equal(['met\n', 'met\n']);
  });

  it('forwards a signal to the command, and stops waiting for one that ignores it', async () => {
    const interrupt = async (script: string): Promise<CliResult> => {
      const child = spawn(process.execPath, [CLI, 'helper', 'exec', '--', 'sh', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      const started = new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('started')) resolve();
        });
      });
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      await started;
      child.kill('SIGTERM');
      return { status: await closed, stdout, stderr: '' };
    };
    // The remote shell dies of the forwarded SIGTERM: 128 + 15.
    expect((await interrupt('echo started; sleep 60')).status).to.equal(143);
    // This one ignores SIGTERM; mvm gives up waiting and reports the signal anyway.
    expect((await interrupt('trap "" TERM; echo started; sleep 60')).status).to.equal(143);
  });

  it('refuses a request without the right token', async () => {
    const state = readHelperState(helperFiles(helperStateDir({ MVM_RUN_DIR: runDir })))!;
    const remote = new RemoteCommand(
      state.hostPort,
      {
        version: PROTOCOL_VERSION,
        token: 'not-the-token',
        kind: 'exec',
        argv: ['true'],
        cwd: '/',
        env: {},
        interactive: false,
        terminal: null,
      },
      null,
    );
    const result = await remote.done;
    expect(result).to.deep.equal({ kind: 'refused', message: 'wrong token' });
  });

  it('stops, leaving no QEMU behind', async function () {
    this.timeout(START_TIMEOUT_MS);
    const state = readHelperState(helperFiles(helperStateDir({ MVM_RUN_DIR: runDir })))!;
    const stopped = await mvm(['helper', 'stop']);
    expect(stopped.stdout).to.equal('helper VM stopped\n');
    expect(isProcessAlive(state.pid)).to.equal(false);
    expect((await mvm(['helper', 'status'])).stdout).to.include('helper VM: not running');
  });
});
