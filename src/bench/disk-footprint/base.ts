// The one base every instance of the disk-footprint benchmark starts from, in
// the three forms the three kinds of instance need: the qcow2 root disk
// mvm boots (images/out/rootfs.qcow2), its raw form (what a full copy
// copies), and its files unpacked into a directory (what a container's
// overlayfs uses as the read-only lower layer: the same busybox rootfs).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertImage } from '../../disk/convert.js';
import { openSync } from '../../disk/open.js';
import { footprint, type Footprint } from './allocated.js';

export interface DiskBase {
  /** The qcow2 root disk, used in place (never written). */
  qcow2: string;
  /** Its raw form, a sparse file in the scratch directory. */
  raw: string;
  /** Its files, unpacked from the ext4 filesystem (an OCI rootfs). */
  tree: string;
  /** What the guest sees as the disk's size. */
  virtualBytes: number;
  footprints: { qcow2: Footprint; raw: Footprint; tree: Footprint };
}

/** Converts and unpacks BASE_QCOW2 into SCRATCH; the qcow2 itself is only read. */
export async function prepareBase(baseQcow2: string, scratch: string): Promise<DiskBase> {
  const disk = openSync(baseQcow2, { readOnly: true });
  const virtualBytes = disk.size;
  disk.closeSync();
  const raw = path.join(scratch, 'base.raw');
  await convertImage(baseQcow2, raw, { outFormat: 'raw' });
  const tree = path.join(scratch, 'rootfs');
  fs.mkdirSync(tree);
  // debugfs reads the ext4 image without mounting it (no loop device needed); rdump copies files, dirs and links.
  const dumped = spawnSync('debugfs', ['-R', `rdump / ${tree}`, raw], { encoding: 'utf8' });
  if (dumped.error) throw new Error(`cannot run debugfs (e2fsprogs) to unpack the rootfs: ${dumped.error.message}`);
  if (dumped.status !== 0 || !fs.existsSync(path.join(tree, 'bin'))) {
    throw new Error(`debugfs could not unpack ${raw}: ${dumped.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
  // mke2fs's lost+found is filesystem bookkeeping, not part of the rootfs a container image would carry.
  fs.rmSync(path.join(tree, 'lost+found'), { recursive: true, force: true });
  return {
    qcow2: baseQcow2,
    raw,
    tree,
    virtualBytes,
    footprints: { qcow2: footprint(baseQcow2), raw: footprint(raw), tree: footprint(tree) },
  };
}
