// The helper's record on the host and the lock that makes racing starters
// start one helper.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../src/errors.js';
import { withStartLock } from '../../src/helper/start-lock.js';
import {
  helperFiles,
  isHelperProcess,
  isProcessAlive,
  parseHelperState,
  readHelperState,
  removeHelperState,
  writeHelperState,
  type HelperState,
} from '../../src/helper/state.js';

const STATE: HelperState = {
  pid: 4242,
  hostPort: 40123,
  startedAt: 1_790_000_000_000,
  cpus: 1,
  memoryMiB: 4096,
  idleSeconds: 600,
  imageKey: 'abc',
  writableShares: ['/tmp'],
};

/** A pid that no process has: the kernel's default pid_max is far below it. */
const UNUSED_PID = 2 ** 30;

describe('helper/state', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-helper-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the state file and removes it', () => {
    const files = helperFiles(dir);
    writeHelperState(files, STATE);
    expect(readHelperState(files)).to.deep.equal(STATE);
    removeHelperState(files);
    expect(readHelperState(files)).to.equal(null);
  });

  it('treats malformed or incomplete state as no state', () => {
    expect(parseHelperState('{not json')).to.equal(null);
    expect(parseHelperState('[]')).to.equal(null);
    expect(parseHelperState(JSON.stringify({ ...STATE, pid: -1 }))).to.equal(null);
    expect(parseHelperState(JSON.stringify({ ...STATE, hostPort: 70000 }))).to.equal(null);
    expect(parseHelperState(JSON.stringify({ ...STATE, writableShares: ['relative'] }))).to.equal(null);
    expect(parseHelperState(JSON.stringify({ ...STATE, writableShares: undefined }))?.writableShares).to.equal(undefined);
    expect(parseHelperState(JSON.stringify({ ...STATE, imageKey: undefined }))).to.equal(null);
    expect(parseHelperState(JSON.stringify({ ...STATE, idleSeconds: 1.5 }))).to.equal(null);
  });

  it('recognises only the helper QEMU of this state directory', async () => {
    const files = helperFiles(dir);
    expect(isProcessAlive(process.pid)).to.equal(true);
    expect(isProcessAlive(UNUSED_PID)).to.equal(false);
    // A live process that is not this helper (no pid-file path in its command line).
    expect(isHelperProcess(process.pid, files)).to.equal(false);
    const impostor = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', files.pidFile]);
    try {
      await sleep(100);
      expect(isHelperProcess(impostor.pid!, files)).to.equal(true);
      expect(isHelperProcess(impostor.pid!, helperFiles(join(dir, 'other')))).to.equal(false);
    } finally {
      impostor.kill('SIGKILL');
    }
  });

  describe('withStartLock', () => {
    it('lets one holder in at a time', async () => {
      const lock = join(dir, 'start.lock');
      let inside = 0;
      let maxInside = 0;
      const holder = async (): Promise<void> => {
        await withStartLock(lock, 10_000, async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await sleep(30);
          inside -= 1;
        });
      };
      await Promise.all([holder(), holder(), holder()]);
      expect(maxInside).to.equal(1);
      expect(() => readFileSync(lock)).to.throw(); // released
    });

    it('breaks a lock whose owner died', async () => {
      const lock = join(dir, 'start.lock');
      writeFileSync(lock, `${UNUSED_PID}\n`);
      const value = await withStartLock(lock, 2_000, async () => readFileSync(lock, 'utf8').trim());
      expect(value).to.equal(String(process.pid));
    });

    it('times out with a UserError while a live owner holds it', async () => {
      const lock = join(dir, 'start.lock');
      writeFileSync(lock, `${process.pid}\n`); // ourselves: alive, so never stale
      let err: unknown;
      try {
        await withStartLock(lock, 300, async () => undefined);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UserError);
      expect((err as Error).message).to.match(/timed out waiting/);
      expect(readFileSync(lock, 'utf8').trim()).to.equal(String(process.pid)); // left alone
    });
  });
});
