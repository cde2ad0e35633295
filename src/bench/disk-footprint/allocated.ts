// Bytes a file or directory tree really occupies on the host's filesystem:
// allocated blocks (st_blocks × 512), not the apparent size, because a sparse
// 64 MiB image that holds 3 MiB of data costs 3 MiB of disk, and a copy that
// fills the holes costs 64. Directories count their own blocks too (an empty
// overlayfs upper dir is one), and a file with several hard links counts once.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** st_blocks counts 512-byte units whatever the filesystem's block size (POSIX). */
const STAT_BLOCK_BYTES = 512;

export interface Footprint {
  /** st_blocks × 512 summed over the tree. */
  allocatedBytes: number;
  /** st_size summed over the regular files of the tree (what `ls -l` shows). */
  apparentBytes: number;
}

/** The footprint of PATH: a file alone, or a directory with everything below it (symbolic links are not followed). */
export function footprint(target: string): Footprint {
  const seen = new Set<string>();
  let allocatedBytes = 0;
  let apparentBytes = 0;
  const visit = (p: string): void => {
    const st = fs.lstatSync(p, { bigint: false });
    const inode = `${st.dev}:${st.ino}`;
    if (seen.has(inode)) return;
    seen.add(inode);
    allocatedBytes += st.blocks * STAT_BLOCK_BYTES;
    if (st.isFile()) apparentBytes += st.size;
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(target);
  return { allocatedBytes, apparentBytes };
}

/** The footprint of several paths together (an instance made of an upper and a work dir). */
export function footprintOf(targets: readonly string[]): Footprint {
  return targets
    .map(footprint)
    .reduce((sum, f) => ({ allocatedBytes: sum.allocatedBytes + f.allocatedBytes, apparentBytes: sum.apparentBytes + f.apparentBytes }), {
      allocatedBytes: 0,
      apparentBytes: 0,
    });
}

/** statfs f_type magic numbers of the filesystems a scratch directory is likely on (linux/magic.h). */
const FILESYSTEM_MAGIC: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
  [0x01021997, '9p'],
  [0x2fc12fc1, 'zfs'],
]);

/** The name of the filesystem DIR is on, for reports (allocation rules differ between them). */
export function filesystemName(dir: string): string {
  const type = fs.statfsSync(dir).type;
  return FILESYSTEM_MAGIC.get(type) ?? `filesystem type 0x${type.toString(16)}`;
}
