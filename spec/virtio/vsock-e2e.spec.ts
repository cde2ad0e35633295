// virtio-vsock in the project's Linux guest, both directions, with the
// guest's mvm-vsock tool (firmware/guest-tools) and real unix sockets on the
// host side (vsock-e2e-driver.ts). First where the VMM runs: inside the
// helper VM on hosts like PVM, its sockets under /run there (the 9p shares
// cannot hold a listening socket). Then, on such hosts, as a user runs it from
// the host: `mvm run` relays PATH into the helper, host -> guest works the
// same, and guest -> host connections are refused with one line naming
// PATH_P. A private runtime directory gives this spec its own helper VM, so
// no other command's helper is disturbed (or disturbs it).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { linuxGuestLocation } from '../../src/bench/harness.js';
import { PROJECT_ROOT, runMvm, type CliResult } from '../helpers/mvm-cli.js';
import { ECHO_BYTES, GUEST_PAYLOAD, HOST_PORT, HOST_REPLY_PREFIX, type DriverResult } from './vsock-e2e-driver.js';

const DRIVER = fileURLToPath(new URL('./vsock-e2e-driver.js', import.meta.url));
const IMAGES = ['images/out/vmlinux', 'images/out/initramfs.cpio.gz'].map((f) => resolve(PROJECT_ROOT, f));
/** mvm-vsock's exit statuses: 1 for a failed call, 2 for bad usage. */
const TOOL_FAILED = 1;
const TOOL_USAGE = 2;
const DRIVER_LIMIT_MS = 580_000;

/** The driver on this host (where `mvm run` forwards to the helper when it must). */
function runDriverHere(env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [DRIVER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), DRIVER_LIMIT_MS);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

function parseDriver(run: CliResult): DriverResult {
  expect(run.status, run.stdout + run.stderr).to.equal(0);
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as DriverResult;
}

const describeRun = (r: DriverResult) => `guest console:\n${r.mvmStdout}\nmvm stderr:\n${r.mvmStderr}\n${r.error ?? ''}`;

function expectEchoed(r: DriverResult): void {
  expect(r.error, describeRun(r)).to.equal(undefined);
  expect(r.okLine, describeRun(r)).to.match(/^OK [0-9]+$/);
  expect(r.echoedBytes, describeRun(r)).to.equal(ECHO_BYTES);
  expect(r.echoedSha256, describeRun(r)).to.equal(r.sentSha256);
}

describe('virtio-vsock in a Linux guest (end to end)', function () {
  // A cold helper VM ~20 s, Node inside it ~3 s twice, two guests and 1 MiB each way under TCG.
  this.timeout(600_000);
  const viaHelper = linuxGuestLocation() === 'helper';
  let dir: string;
  let env: Record<string, string>;

  before(() => {
    for (const file of IMAGES) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'mvm-vsock-e2e-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '120' };
  });

  after(async () => {
    if (env && viaHelper) await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('with the host side where the VMM runs', () => {
    let result: DriverResult;

    before(async () => {
      result = parseDriver(
        viaHelper ? await runMvm(['helper', 'exec', '--', process.execPath, DRIVER], { env, timeoutMs: DRIVER_LIMIT_MS }) : await runDriverHere(env),
      );
    });

    it('guest -> host: a connection to CID 2 port P reaches the listener on PATH_P, and its answer reaches the guest', () => {
      expect(result.hostReceived, describeRun(result)).to.equal(`${GUEST_PAYLOAD}\n`);
      expect(result.mvmStdout, describeRun(result)).to.match(new RegExp(`^${HOST_REPLY_PREFIX}${GUEST_PAYLOAD}\\s*$`, 'm'));
      expect(result.mvmStdout, describeRun(result)).to.match(/^GUEST-CONNECT-STATUS=0\s*$/m);
    });

    it("host -> guest: CONNECT is answered with OK, 1 MiB comes back from the guest's echo byte for byte", () => {
      expectEchoed(result);
    });

    it('the guest tool fails with one line and its status: no listener on the host port, bad usage', () => {
      expect(result.mvmStdout, describeRun(result)).to.match(new RegExp(`^UNSERVED-STATUS=${TOOL_FAILED}\\s*$`, 'm'));
      expect(result.mvmStdout, describeRun(result)).to.match(/^mvm-vsock: connect: .+$/m);
      expect(result.mvmStdout, describeRun(result)).to.match(new RegExp(`^USAGE-STATUS=${TOOL_USAGE}\\s*$`, 'm'));
    });

    it("the VM exits with the guest command's status once the listener has served the host", () => {
      expect(result.mvmStatus, describeRun(result)).to.equal(0);
    });
  });

  describe('from this host, relayed into the helper VM', () => {
    let result: DriverResult;

    before(async function () {
      if (!viaHelper) this.skip(); // No helper VM on this host: `mvm run` listens on PATH itself (the runs above).
      result = parseDriver(await runDriverHere(env));
    });

    it('host -> guest works through PATH on this host as it does inside the helper', () => {
      expectEchoed(result);
      expect(result.mvmStatus, describeRun(result)).to.equal(0);
      expect(existsSync(result.uds), 'the host socket is removed with the VM').to.equal(false);
    });

    it('guest -> host is refused at once with one line naming PATH_P on this host', () => {
      expect(result.hostReceived, describeRun(result)).to.equal('');
      expect(result.mvmStdout, describeRun(result)).to.match(new RegExp(`^GUEST-CONNECT-STATUS=${TOOL_FAILED}\\s*$`, 'm'));
      const refusal = new RegExp(
        `^mvm: vsock: the guest's connection to host port ${HOST_PORT} cannot reach ${result.uds}_${HOST_PORT}: .*helper VM`,
        'm',
      );
      expect(result.mvmStderr, describeRun(result)).to.match(refusal);
    });
  });
});
