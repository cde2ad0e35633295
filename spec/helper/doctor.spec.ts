// `mvm doctor` on this host: its report must agree with the detection
// functions, and its exit status with whether guests can run here at all.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKvmKind, detectHostKvm } from '../../src/helper/host-kvm.js';
import { projectRoot } from '../../src/runtime/paths.js';

const CLI = join(projectRoot(), 'dist', 'src', 'cli', 'index.js');

describe('mvm doctor', function () {
  this.timeout(60_000);
  let runDir: string;
  before(() => {
    runDir = mkdtempSync(join(tmpdir(), 'mvm-doctor-'));
  });
  after(() => rmSync(runDir, { recursive: true, force: true }));

  function doctor(extraEnv: NodeJS.ProcessEnv): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
    const env: NodeJS.ProcessEnv = { ...process.env, MVM_RUN_DIR: runDir, ...extraEnv };
    delete env.MVM_IN_HELPER;
    return spawnSync(process.execPath, [CLI, 'doctor'], { env, encoding: 'utf8' }) as never;
  }

  it("reports this host's KVM kind, the helper decision and the helper's state", () => {
    const kvm = detectHostKvm();
    const result = doctor({});
    expect(result.stdout).to.include(`KVM: ${describeKvmKind(kvm.kind)}`);
    // Without /dev/kvm the report says why (on this project's machines: the host is itself a PVM guest).
    if (kvm.kind === 'absent') expect(result.stdout).to.include(`why: ${kvm.absentBecause}`);
    else expect(result.stdout).not.to.include('why:');
    const viaHelper = kvm.kind !== 'hardware';
    expect(result.stdout).to.include(viaHelper ? 'Linux guests: run inside the helper VM' : 'Linux guests: run directly on this host');
    expect(result.stdout).to.match(/^helper image: (built|not built)/m);
    expect(result.stdout).to.include('helper VM: not running'); // a fresh runtime directory has none
    expect(result.stdout).to.include(`runtime directory: ${runDir}`);
    const qemuInstalled = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
    const canRun = (kvm.kind === 'hardware' && kvm.accessible) || (viaHelper && qemuInstalled);
    expect(result.status).to.equal(canRun ? 0 : 3);
  });

  it('says so, and fails, when MVM_HELPER=never keeps Linux guests on a KVM that cannot run them', function () {
    if (detectHostKvm().kind === 'hardware') this.skip(); // on VT-x/AMD-V hosts guests run without the helper
    const result = doctor({ MVM_HELPER: 'never' });
    expect(result.stdout).to.match(/^Linux guests: (run directly on this host's KVM, which fails for unmodified Linux|.*MVM_HELPER=never forbids)/m);
    expect(result.status).to.equal(3);
    expect(result.stderr).to.equal('mvm: this host cannot run Linux guests (see above)\n');
  });

  it('refuses a misspelt MVM_HELPER with one line', () => {
    const result = doctor({ MVM_HELPER: 'yes' });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.equal('mvm: MVM_HELPER must be auto, always or never (got "yes")\n');
  });
});
