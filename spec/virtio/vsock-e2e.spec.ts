// virtio-vsock in the project's Linux guest, both directions, with the
// guest's mvm-vsock tool (firmware/guest-tools) and real unix sockets on the
// host side. The host side (vsock-e2e-driver.ts) runs where the VMM runs:
// inside the helper VM on hosts like PVM (its unix sockets under /run there,
// since the 9p shares cannot hold a listening socket). A private runtime
// directory gives this spec its own helper VM, so no other command's helper
// is disturbed (or disturbs it).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { linuxGuestLocation } from '../../src/bench/harness.js';
import { PROJECT_ROOT, runMvm, type CliResult } from '../helpers/mvm-cli.js';
import { ECHO_BYTES, GUEST_PAYLOAD, HOST_REPLY_PREFIX, type DriverResult } from './vsock-e2e-driver.js';

const DRIVER = fileURLToPath(new URL('./vsock-e2e-driver.js', import.meta.url));
const IMAGES = ['images/out/vmlinux', 'images/out/initramfs.cpio.gz'].map((f) => resolve(PROJECT_ROOT, f));
/** mvm-vsock's exit statuses: 1 for a failed call, 2 for bad usage. */
const TOOL_FAILED = 1;
const TOOL_USAGE = 2;

describe('virtio-vsock in a Linux guest (end to end)', function () {
  // A cold helper VM ~20 s, Node inside it ~3 s twice, the guest and 1 MiB each way under TCG.
  this.timeout(600_000);
  let dir: string;
  let env: Record<string, string>;
  let result: DriverResult;
  let output: string;

  before(async function () {
    for (const file of IMAGES) {
      if (!existsSync(file)) throw new Error(`${file} is missing: \`make test\` builds it (make images)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'mvm-vsock-e2e-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '120' };
    const run = linuxGuestLocation() === 'helper'
      ? await runMvm(['helper', 'exec', '--', process.execPath, DRIVER], { env, timeoutMs: 580_000 })
      : await runNode(DRIVER, env);
    const lines = run.stdout.trim().split('\n');
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    result = JSON.parse(lines[lines.length - 1]!) as DriverResult;
    output = `guest stdout:\n${result.mvmStdout}\nmvm stderr:\n${result.mvmStderr}\n${result.error ?? ''}`;
  });

  after(async () => {
    if (env && linuxGuestLocation() === 'helper') await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('host -> guest: CONNECT is answered with OK, 1 MiB comes back from the guest\'s echo byte for byte', () => {
    expect(result.error, output).to.equal(undefined);
    expect(result.okLine, output).to.match(/^OK [0-9]+$/);
    expect(result.echoedBytes, output).to.equal(ECHO_BYTES);
    expect(result.echoedSha256, output).to.equal(result.sentSha256);
  });

  it('guest -> host: a connection to CID 2 port P reaches the listener on PATH_P, and its answer reaches the guest', () => {
    expect(result.hostReceived, output).to.equal(`${GUEST_PAYLOAD}\n`);
    expect(result.mvmStdout, output).to.match(new RegExp(`^${HOST_REPLY_PREFIX}${GUEST_PAYLOAD}\\s*$`, 'm'));
    expect(result.mvmStdout, output).to.match(/^GUEST-CONNECT-STATUS=0\s*$/m);
  });

  it('the guest tool fails with one line and its status: no listener on the host port, bad usage', () => {
    expect(result.mvmStdout, output).to.match(new RegExp(`^UNSERVED-STATUS=${TOOL_FAILED}\\s*$`, 'm'));
    expect(result.mvmStdout, output).to.match(/^mvm-vsock: connect: .+$/m);
    expect(result.mvmStdout, output).to.match(new RegExp(`^USAGE-STATUS=${TOOL_USAGE}\\s*$`, 'm'));
  });

  it('the VM exits with the guest command\'s status', () => {
    expect(result.mvmStatus, output).to.equal(0);
  });
});

/** The driver directly, on hosts whose KVM runs Linux guests. */
function runNode(script: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stdout, stderr }));
  });
}
