// Where a jailed VMM writes a snapshot, and how it reaches the directory the
// user named. A jailed VMM sees only its own VM directory (src/vmm/jail), so,
// as with Firecracker's jailer, its snapshot is written inside: to
// <vm dir>/snapshot. `mvm snapshot create` (unconfined, the caller's uid) then
// moves it to DIR. The jailed VMM is treated as untrusted here: only the
// staging path this side computes is moved, and only regular files in it —
// a symlink or device planted there would otherwise be carried out with the
// caller's rights.
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

const STAGING_NAME = 'snapshot';

/** The staging directory inside a VM directory. */
export function stagedSnapshotDir(vmDirectory: string): string {
  return join(vmDirectory, STAGING_NAME);
}

/** DIR must be new (its parent existing) or an empty directory: checked before the VM is paused. Throws a plain Error naming what is wrong. */
export function checkSnapshotTarget(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      try {
        lstatSync(join(dir, '..'));
        return;
      } catch {
        throw new Error(`${dir}: its parent directory does not exist`);
      }
    }
    throw new Error(`${dir}: ${code ?? String(err)}`);
  }
  if (entries.length > 0) throw new Error(`${dir} is not empty: a snapshot goes into a new or empty directory`);
}

/** Moves the staged snapshot to `dir` (rename, or a sparse copy across filesystems), owned by this process's uid/gid. */
export function moveStagedSnapshot(staged: string, dir: string): void {
  const files = readdirSync(staged);
  for (const file of files) {
    if (!lstatSync(join(staged, file)).isFile()) {
      throw new UserError(`the VM's staged snapshot ${staged} holds ${file}, which is not a regular file: refused, nothing moved`);
    }
  }
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  try {
    rmdirSync(dir);
  } catch {
    // Not there: the rename or mkdir below makes it.
  }
  try {
    renameSync(staged, dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    mkdirSync(dir, { mode: 0o755 });
    for (const file of files) copySparse(join(staged, file), join(dir, file));
    rmSync(staged, { recursive: true, force: true });
  }
  lchownSync(dir, uid, gid);
  for (const file of files) lchownSync(join(dir, file), uid, gid);
}

/** cp keeps holes (the memory file is mostly holes) and reflinks where it can; then the copy is made durable. */
function copySparse(from: string, to: string): void {
  const cp = spawnSync('cp', ['--sparse=always', '--reflink=auto', '--preserve=mode', '--', from, to], { encoding: 'utf8' });
  if (cp.status !== 0) throw new UserError(`cannot copy ${from} to ${to}: ${(cp.stderr || cp.error?.message || '').trim()}`);
  const fd = openSync(to, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
