// The VM-exit benchmark's two loops run the same guest and report the same
// shape: checked with a few exits on this host's /dev/kvm, or the helper VM's
// where the host has none (no timing assertions: speed belongs to `make bench`).
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createExitLoopGuest, EXIT_PORT, runExits } from '../../src/bench/exit-loop/guest.js';
import { microsecondsPerExit, parseLoopArguments, parseLoopResult } from '../../src/bench/exit-loop/loop-result.js';
import { describeWithKvm } from '../helpers/kvm-in-helper.js';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const KOFFI_LOOP = path.join(PROJECT_ROOT, 'dist/src/bench/exit-loop/koffi-loop.js');
const C_SOURCE = path.join(PROJECT_ROOT, 'firmware/bench/exit-loop.c');

describe('exit-loop results', () => {
  it('reads a loop result line and turns round times into µs per exit', () => {
    const r = parseLoopResult('noise\n{"loop":"c","exits":1000,"roundNs":[8000000,9000000]}\n');
    expect(microsecondsPerExit(r)).to.deep.equal([8, 9]);
  });

  it('refuses malformed result lines and arguments', () => {
    expect(() => parseLoopResult('{"loop":"rust","exits":1,"roundNs":[1]}')).to.throw(/malformed/);
    expect(() => parseLoopResult('{"loop":"c","exits":1,"roundNs":[]}')).to.throw(/malformed/);
    expect(() => parseLoopResult('{"loop":"c","exits":0,"roundNs":[5]}')).to.throw(/malformed/);
    expect(() => parseLoopResult('KVM_RUN: bad address')).to.throw(/no result line/);
    expect(() => parseLoopArguments(['10'])).to.throw(/usage/);
    expect(() => parseLoopArguments(['10', '1000'])).to.throw(/ROUNDS/);
  });
});

describeWithKvm(import.meta.url, 'exit-loop guest on /dev/kvm', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-exit-loop-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("exits to the VMM on every out to its port, through mvm's KVM layer", () => {
    const { vcpu } = createExitLoopGuest();
    runExits(vcpu, 50);
    const exit = vcpu.runOnce();
    expect(exit).to.include({ kind: 'io', port: EXIT_PORT, isWrite: true, size: 1 });
    // The out is the 2 bytes at code + 2. Where RIP stands at the exit is the KVM's choice, and
    // both kinds occur: PVM's emulator has retired the out (RIP on the jmp, + 4); hardware KVM
    // (VT-x/AMD-V, the helper VM's) completes it on the next KVM_RUN (RIP still on it, + 2).
    const rip = vcpu.getRegs().rip;
    expect([0x1002n, 0x1004n]).to.include(rip);
    // Either way the loop goes on: the next run exits at the same port again.
    expect(vcpu.runOnce()).to.include({ kind: 'io', port: EXIT_PORT, isWrite: true, size: 1 });
    expect(vcpu.getRegs().rip).to.equal(rip);
  });

  it('the koffi and C loops both complete their rounds and print the same JSON shape', () => {
    const cLoop = path.join(dir, 'exit-loop');
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', cLoop, C_SOURCE]);
    const c = parseLoopResult(execFileSync(cLoop, ['2000', '2'], { encoding: 'utf8' }));
    const koffi = parseLoopResult(execFileSync(process.execPath, [KOFFI_LOOP, '2000', '2'], { encoding: 'utf8' }));
    for (const [result, loop] of [
      [c, 'c'],
      [koffi, 'koffi'],
    ] as const) {
      expect(result.loop).to.equal(loop);
      expect(result.exits).to.equal(2000);
      expect(result.roundNs).to.have.length(2);
    }
  });

  it('the C loop refuses bad arguments with a usage line, not a crash', () => {
    const cLoop = path.join(dir, 'exit-loop');
    if (!fs.existsSync(cLoop)) execFileSync('gcc', ['-O2', '-o', cLoop, C_SOURCE]);
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(cLoop, ['ten', '2'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      failure = err as { status: number; stderr: string };
    }
    expect(failure?.status).to.equal(2);
    expect(failure?.stderr).to.match(/EXITS must be a whole number/);
  });
});
