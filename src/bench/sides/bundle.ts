// The runc side's OCI bundles: the root filesystem is the guest's own
// initramfs (images/out/initramfs.cpio.gz, built by images/build-rootfs.sh
// from images/rootfs-contents.sh), unpacked once per content hash, so the
// container runs byte for byte the files the microVMs boot. Each container
// gets a bundle directory holding only its config.json, pointing at that
// shared, read-only root.
//
// Everything lives under /run/mvm-bench: a local tmpfs (inside mvm's helper
// VM the project and cache directories are 9p shares, which make a poor
// container root), root-only like runc itself, and gone at reboot.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ociConfig, type OciConfigOptions } from './oci-config.js';

export const BENCH_RUN_DIR = '/run/mvm-bench';
/** Hex digits of the initramfs's sha256 that name its unpacked copy. */
const HASH_DIGITS = 16;
/** The unpacked root must hold these, or it is not the guest's rootfs. */
const REQUIRED_FILES = ['init', 'bin/busybox', 'lib/mvm/session', 'lib/mvm/init-lib.sh'];
/** cpio's exit on a big archive is quick; this only stops a wedged one. */
const CPIO_LIMIT_MS = 60_000;

/**
 * The initramfs unpacked into BENCH_RUN_DIR/rootfs-<hash> (done once per
 * content; concurrent callers each unpack into a temporary directory and the
 * first rename wins). Returns its absolute path; throws with one line on failure.
 */
export function unpackedRootfs(initramfs: string): string {
  const compressed = fs.readFileSync(initramfs);
  const hash = createHash('sha256').update(compressed).digest('hex').slice(0, HASH_DIGITS);
  const target = path.join(BENCH_RUN_DIR, `rootfs-${hash}`);
  if (fs.existsSync(path.join(target, 'init'))) return target;
  fs.mkdirSync(BENCH_RUN_DIR, { recursive: true, mode: 0o700 });
  const staging = fs.mkdtempSync(path.join(BENCH_RUN_DIR, 'unpack-'));
  try {
    let archive: Buffer;
    try {
      archive = gunzipSync(compressed);
    } catch (err) {
      throw new Error(`${initramfs} is not a gzip file: ${(err as Error).message}`);
    }
    // GNU cpio (Makefile's APT_PACKAGES), as root so /dev/console and /dev/mem come out as device nodes like in the guest.
    const cpio = spawnSync('cpio', ['--extract', '--make-directories', '--preserve-modification-time', '--no-absolute-filenames', '--quiet'], {
      cwd: staging,
      input: archive,
      timeout: CPIO_LIMIT_MS,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    if (cpio.error || cpio.status !== 0) {
      throw new Error(`cannot unpack ${initramfs} with cpio: ${cpio.error?.message ?? cpio.stderr.toString().trim().split('\n').pop()}`);
    }
    for (const file of REQUIRED_FILES) {
      if (!fs.existsSync(path.join(staging, file))) throw new Error(`${initramfs} has no /${file}: not mvm's guest root filesystem`);
    }
    try {
      fs.renameSync(staging, target);
    } catch (err) {
      // Another benchmark unpacked the same archive first: use theirs.
      if (!fs.existsSync(path.join(target, 'init'))) throw err;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return target;
}

/** Writes BENCH_RUN_DIR/bundles/<id>/config.json and returns the bundle directory. */
export function writeBundle(id: string, config: OciConfigOptions): string {
  const dir = path.join(BENCH_RUN_DIR, 'bundles', id);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(ociConfig(config), null, 2)}\n`);
  return dir;
}

export function removeBundle(id: string): void {
  fs.rmSync(path.join(BENCH_RUN_DIR, 'bundles', id), { recursive: true, force: true });
}
