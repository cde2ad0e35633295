// The VMM's seccomp filter, installed for real in a child node process (no KVM
// needed: seccomp is the host kernel's): what Node does for a VMM after
// lock-down (files, a worker thread, timers, a unix socket) still works, a
// call outside the allow-list (getppid) kills the whole process with SIGSYS,
// and the program's shape holds (arch check first, ioctl narrowed).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIT_ARCH_X86_64, buildSeccompProgram, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS } from '../../../src/vmm/jail/seccomp-program.js';
import { allowedSyscallNames, SYSCALL_IOCTL, VMM_IOCTL_GROUPS, vmmSeccompPolicy } from '../../../src/vmm/jail/syscall-allow-list.js';
import { describeVmmExit } from '../../../src/fleet/vmm-exit.js';

const LOCK_DOWN = resolve(fileURLToPath(import.meta.url), '../../../../src/vmm/jail/lock-down.js');
/** Docker's default profile allows ~297 calls; the goal is at most half of that. */
const MAX_ALLOWED = 150;

function runLockedDown(body: string): ReturnType<typeof spawnSync> {
  const script = `import { lockDownVmm } from ${JSON.stringify(LOCK_DOWN)};\nlockDownVmm();\n${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

function instructions(program: Uint8Array): { code: number; k: number }[] {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  return Array.from({ length: program.byteLength / 8 }, (_, i) => ({ code: view.getUint16(i * 8, true), k: view.getUint32(i * 8 + 4, true) }));
}

describe('the VMM seccomp filter', function () {
  this.timeout(60_000);

  it('lets a locked-down Node read files, run a worker thread, use timers and a unix socket, and shows filter mode', () => {
    const result = runLockedDown(`
      import { readFileSync } from 'node:fs';
      import { Worker } from 'node:worker_threads';
      import { createServer, connect } from 'node:net';
      const status = readFileSync('/proc/self/status', 'utf8');
      const worker = new Worker("import('node:worker_threads').then((w) => w.parentPort.postMessage(6 * 7))", { eval: true });
      const answer = await new Promise((r) => worker.once('message', r));
      await worker.terminate();
      await new Promise((r) => setTimeout(r, 20));
      const path = '/tmp/mvm-seccomp-spec-' + process.pid + '.sock';
      const server = createServer((s) => s.end('pong')).listen(path);
      await new Promise((r) => server.once('listening', r));
      const reply = await new Promise((r) => { let t = ''; connect(path).on('data', (d) => (t += d)).on('end', () => r(t)); });
      server.close();
      console.log(JSON.stringify({ answer, reply, seccomp: /^Seccomp:\\s+(\\d+)/m.exec(status)[1], nnp: /^NoNewPrivs:\\s+(\\d+)/m.exec(status)[1] }));
    `);
    expect(result.status, String(result.stderr)).to.equal(0);
    expect(JSON.parse(String(result.stdout))).to.deep.equal({ answer: 42, reply: 'pong', seccomp: '2', nnp: '1' });
  });

  it('kills the whole process with SIGSYS at a call outside the list', () => {
    const result = runLockedDown(`console.log('before'); void process.ppid; console.log('after');`);
    expect(result.signal).to.equal('SIGSYS');
    expect(String(result.stdout)).to.equal('before\n');
  });

  it('checks the architecture first and narrows ioctl to the listed requests', () => {
    const policy = vmmSeccompPolicy();
    const program = instructions(buildSeccompProgram(policy));
    expect(program[0]!.k, 'loads seccomp_data.arch').to.equal(4);
    expect(program[1]!.k).to.equal(AUDIT_ARCH_X86_64);
    expect(program[2]!.k).to.equal(SECCOMP_RET_KILL_PROCESS);
    expect(policy.syscalls).to.not.include(SYSCALL_IOCTL);
    const returns = program.filter((i) => i.code === 0x06);
    expect(returns.filter((r) => r.k === SECCOMP_RET_ALLOW)).to.have.length(policy.syscalls.length + Object.values(VMM_IOCTL_GROUPS).flat().length);
    expect(program.at(-1)!.k, 'an unknown ioctl request').to.equal(SECCOMP_RET_KILL_PROCESS);
  });

  it(`allows at most ${MAX_ALLOWED} calls, each named once, and neither execve nor getppid`, () => {
    const names = allowedSyscallNames();
    expect(new Set(names).size).to.equal(names.length);
    expect(names.length + 1, 'the list and ioctl').to.be.at.most(MAX_ALLOWED);
    expect(names).to.not.include.members(['execve', 'execveat', 'getppid', 'ptrace', 'mount', 'setuid', 'unshare']);
  });

  it('names a seccomp kill, a SIGKILL and a plain death from the exit status the wrapper recorded', () => {
    expect(describeVmmExit(128 + 31)).to.match(/seccomp/);
    expect(describeVmmExit(128 + 9)).to.match(/SIGKILL/);
    expect(describeVmmExit(1)).to.equal('VMM process gone (status 1, no final state)');
  });
});
