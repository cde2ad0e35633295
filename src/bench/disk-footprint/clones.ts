// The kinds of per-instance disk the footprint benchmark compares, each made
// from the same base the way its world makes it:
//   qcow2-overlay  mvm's copy-on-write overlay (createQcow2 with a backing
//                  file, exactly what `mvm run --disk` does per VM);
//   full-copy      `cp --sparse=never` of the raw image: every byte, the way
//                  an image copied without hole detection (or to a filesystem
//                  without holes) ends up;
//   sparse-copy    plain `cp` of the raw image (holes detected and kept);
//   overlayfs      a container's rootfs: an empty upper and work dir over the
//                  unpacked rootfs as lowerdir, mounted (runc's/Docker's way).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createQcow2 } from '../../disk/qcow2/create.js';
import type { DiskBase } from './base.js';

export type CloneKind = 'qcow2-overlay' | 'full-copy' | 'sparse-copy' | 'overlayfs';

export interface CloneInstance {
  /** The files and directories that are this instance's own bytes (the shared base is not). */
  readonly owned: readonly string[];
  /** For VM disks: the image a VM boots with `--disk PATH,persistent`. */
  readonly image?: string;
  /** For overlayfs: the merged directory the container sees as its root. */
  readonly merged?: string;
  /** Unmounts / forgets the instance (files are removed with the scratch directory). */
  dispose(): void;
}

export interface CloneStrategy {
  readonly kind: CloneKind;
  /** How tables name it. */
  readonly label: string;
  /** One line saying how an instance is made (for the report). */
  readonly how: string;
  /** Whether the instance is a VM disk (written by a guest) or a container rootfs (written through the merged dir). */
  readonly world: 'vm' | 'container';
  /** Bytes of the base that every instance shares (counted once for any number of instances). */
  sharedBaseBytes(base: DiskBase): number;
  /** Null when it can be made here, else why not (one line). */
  unavailable(base: DiskBase, scratch: string): string | null;
  /** Makes instance INDEX inside DIR (an empty directory of its own); the caller times it. */
  create(base: DiskBase, dir: string): CloneInstance;
}

function run(command: string, args: readonly string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${command}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-1)[0] ?? `status ${r.status}`}`);
}

const qcow2Overlay: CloneStrategy = {
  kind: 'qcow2-overlay',
  label: 'qcow2 overlay (mvm)',
  how: 'createQcow2 with the base as backing file, in-process, as `mvm run --disk` does per VM',
  world: 'vm',
  sharedBaseBytes: (base) => base.footprints.qcow2.allocatedBytes,
  unavailable: () => null,
  create(base, dir) {
    const image = path.join(dir, 'disk.qcow2');
    createQcow2(image, { size: base.virtualBytes, backing: { name: base.qcow2, format: 'qcow2' } });
    return { owned: [image], image, dispose: () => undefined };
  },
};

function rawCopy(kind: 'full-copy' | 'sparse-copy'): CloneStrategy {
  const sparse = kind === 'sparse-copy';
  return {
    kind,
    label: sparse ? 'raw copy, holes kept (cp)' : 'raw full copy (cp --sparse=never)',
    how: sparse ? '`cp` of the raw image (GNU cp keeps the holes)' : '`cp --sparse=never` of the raw image: every byte of the virtual disk',
    world: 'vm',
    // A copy shares nothing: the base could be deleted once copied.
    sharedBaseBytes: () => 0,
    unavailable: () => (spawnSync('cp', ['--version']).error ? 'cp (coreutils) is not installed' : null),
    create(base, dir) {
      const image = path.join(dir, 'disk.raw');
      run('cp', [sparse ? '--sparse=auto' : '--sparse=never', base.raw, image]);
      return { owned: [image], image, dispose: () => undefined };
    },
  };
}

/** Mounts an overlayfs of LOWER in DIR; returns the instance. Needs root (CAP_SYS_ADMIN) and a local filesystem for upper/work. */
function mountOverlay(lower: string, dir: string): CloneInstance {
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  for (const d of [upper, work, merged]) fs.mkdirSync(d);
  run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  let mounted = true;
  return {
    owned: [upper, work],
    merged,
    dispose() {
      if (!mounted) return;
      mounted = false;
      // Lazy: a process still holding a file there must not keep the benchmark from cleaning up.
      spawnSync('umount', ['-l', merged]);
    },
  };
}

const overlayfs: CloneStrategy = {
  kind: 'overlayfs',
  label: 'container overlayfs upper dir',
  how: 'empty upper + work dir over the unpacked rootfs as lowerdir, `mount -t overlay` (what runc/Docker use)',
  world: 'container',
  sharedBaseBytes: (base) => base.footprints.tree.allocatedBytes,
  unavailable(base, scratch) {
    if (process.getuid?.() !== 0) return 'mounting overlayfs needs root';
    const probe = fs.mkdtempSync(path.join(scratch, 'overlay-probe-'));
    try {
      mountOverlay(base.tree, probe).dispose();
      return null;
    } catch (err) {
      return `overlayfs cannot be mounted here: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  },
  create: (base, dir) => mountOverlay(base.tree, dir),
};

/** Every strategy, in table order. */
export const CLONE_STRATEGIES: readonly CloneStrategy[] = [qcow2Overlay, rawCopy('full-copy'), rawCopy('sparse-copy'), overlayfs];
