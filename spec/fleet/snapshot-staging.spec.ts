// A jailed VMM's snapshot is written inside its VM directory and moved out by
// `mvm snapshot create`: only regular files move, to a new or empty DIR.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { checkSnapshotTarget, moveStagedSnapshot, stagedSnapshotDir } from '../../src/fleet/snapshot-staging.js';

describe('fleet/snapshot-staging', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mvm-staging-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const stage = (files: Record<string, string>): string => {
    const staged = stagedSnapshotDir(join(root, 'vm'));
    mkdirSync(staged, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(staged, name), text);
    return staged;
  };

  it('moves the staged files to a new directory and leaves no staging behind', () => {
    const staged = stage({ 'state.mvm': 'state', 'memory.bin': 'ram' });
    const dir = join(root, 'snap');
    checkSnapshotTarget(dir);
    moveStagedSnapshot(staged, dir);
    expect(readFileSync(join(dir, 'state.mvm'), 'utf8')).to.equal('state');
    expect(readFileSync(join(dir, 'memory.bin'), 'utf8')).to.equal('ram');
    expect(existsSync(staged)).to.equal(false);
  });

  it('moves into an empty directory the user made', () => {
    const staged = stage({ 'state.mvm': 'state' });
    const dir = join(root, 'empty');
    mkdirSync(dir);
    checkSnapshotTarget(dir);
    moveStagedSnapshot(staged, dir);
    expect(readFileSync(join(dir, 'state.mvm'), 'utf8')).to.equal('state');
  });

  it('refuses a target that is not empty or whose parent is missing, before anything is taken', () => {
    const full = join(root, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep'), 'mine');
    expect(() => checkSnapshotTarget(full)).to.throw(/is not empty/);
    expect(() => checkSnapshotTarget(join(root, 'no', 'such'))).to.throw(/parent directory does not exist/);
    expect(readFileSync(join(full, 'keep'), 'utf8')).to.equal('mine');
  });

  it('refuses a staging directory holding a symlink (planted by a compromised VMM) and moves nothing', () => {
    const staged = stage({ 'state.mvm': 'state' });
    symlinkSync('/etc/shadow', join(staged, 'memory.bin'));
    const dir = join(root, 'snap');
    expect(() => moveStagedSnapshot(staged, dir)).to.throw(UserError, /memory\.bin, which is not a regular file/);
    expect(existsSync(dir)).to.equal(false);
    expect(existsSync(join(staged, 'state.mvm'))).to.equal(true);
  });
});
