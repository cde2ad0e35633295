// The one base every instance of the disk-footprint benchmark starts from, in
// the three forms the three kinds of instance need: the qcow2 root disk
// mvm boots (a copy of images/out/rootfs.qcow2), its raw form (what a full copy
// copies), and its files unpacked into a directory (what a container's
// overlayfs uses as the read-only lower layer: the same busybox rootfs).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertImage } from '../../disk/convert.js';
import { openSync } from '../../disk/open.js';
import { footprint, type Footprint } from './allocated.js';

export interface DiskBase {
  /** A copy of the qcow2 root disk in the scratch directory (never written): the overlays' backing file. */
  qcow2: string;
  /** Its raw form, a sparse file in the scratch directory. */
  raw: string;
  /** Its files, unpacked from the ext4 filesystem (an OCI rootfs). */
  tree: string;
  /** What the guest sees as the disk's size. */
  virtualBytes: number;
  footprints: { qcow2: Footprint; raw: Footprint; tree: Footprint };
}

/**
 * Copies BASE_QCOW2 into SCRATCH (holes kept), and converts and unpacks the
 * copy there: every instance then starts from the same bytes even if the
 * images are rebuilt while the benchmark runs (a rebuilt backing file under
 * live overlays would also corrupt them).
 */
export async function prepareBase(sourceQcow2: string, scratch: string): Promise<DiskBase> {
  const baseQcow2 = path.join(scratch, 'base.qcow2');
  const copied = spawnSync('cp', ['--sparse=auto', sourceQcow2, baseQcow2], { encoding: 'utf8' });
  if (copied.error || copied.status !== 0) throw new Error(`cannot copy ${sourceQcow2}: ${copied.error?.message ?? copied.stderr.trim()}`);
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
