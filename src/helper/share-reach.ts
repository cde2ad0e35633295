// Which host directories a --share can name when the VMM runs inside the
// helper VM. There, the host's root is a read-only 9p mount and only the
// helper's writable shares (src/helper/settings.ts) are writable; /proc,
// /sys, /dev, /run and /tmp are the helper's own file systems, so the host's
// files there are invisible unless a writable share covers them (the
// temporary directory is one by default). virtiofsd runs inside the helper
// on its view of the directory, so:
//   - a writable share must lie inside one of the helper's writable shares;
//   - a read-only share may lie anywhere else the helper sees the host's files.
import { sep } from 'node:path';
import type { ShareSettings } from '../devices/settings.js';
import { UserError } from '../errors.js';
import { decideHelper, detectHostKvm, helperPolicy, insideHelper } from './host-kvm.js';
import { readHelperSettings, uncoveredShares } from './settings.js';

/** Top-level directories that are the helper VM's own, not the host's. */
const HELPER_OWN_DIRECTORIES = ['/proc', '/sys', '/dev', '/run', '/tmp'];

/** Throws a one-line UserError for the first share the helper VM cannot serve; nothing when no helper will be used. */
export function checkSharesReachable(shares: readonly ShareSettings[]): void {
  if (shares.length === 0) return;
  if (!decideHelper(detectHostKvm(), helperPolicy(), insideHelper()).useHelper) return;
  const writable = readHelperSettings().writableShares;
  for (const share of shares) {
    const covered = uncoveredShares([share.path], writable).length === 0;
    if (covered) continue;
    const own = HELPER_OWN_DIRECTORIES.find((d) => share.path === d || share.path.startsWith(d + sep));
    if (own) {
      throw new UserError(
        `--share ${share.path}: the helper VM has its own ${own}, so it cannot see this host directory (writable in the helper: ${writable.join(', ')})`,
        2,
      );
    }
    if (!share.readOnly) {
      throw new UserError(
        `--share ${share.path}: the helper VM sees this directory read-only; add ,ro, or share a directory inside ${writable.join(', ')} (MVM_HELPER_SHARES sets that list)`,
        2,
      );
    }
  }
}
