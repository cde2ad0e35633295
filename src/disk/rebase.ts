// `mvm image rebase`: gives an overlay a new backing file (or none). The safe
// mode first copies into the overlay every cluster whose contents would change
// under the new base; -u (unsafe) only rewrites the name.
import * as fs from 'node:fs';
import type { DiskFormat, SyncDisk } from './backend.js';
import { ChainGuard, resolveBackingName } from './backing-name.js';
import { ImageError } from './errors.js';
import { refuseIfInUse } from './image-lock.js';
import { openChainMember, probeFormat } from './open.js';
import { ImageFile } from './qcow2/file-io.js';
import { buildHeaderArea, headerProbeLength, parseHeader } from './qcow2/header.js';
import { Qcow2Image } from './qcow2/image.js';
import { Kind } from './qcow2/mapping.js';

const CHUNK = 1 << 20;

export interface RebaseOptions {
  format?: DiskFormat;
  unsafe?: boolean;
}

/** `backing` empty or undefined removes the backing file. */
export async function rebaseImage(path: string, backing: string | undefined, opts: RebaseOptions = {}): Promise<void> {
  await refuseIfInUse(path);
  const target = backing ? resolveBackingName(path, backing) : undefined;
  let format = opts.format;
  if (target && !format) {
    if (!fs.existsSync(target)) throw new ImageError(path, `new backing file ${target} does not exist (give -F FORMAT with -u to record it anyway)`);
    format = probeFormat(target);
  }
  if (!opts.unsafe) copyChangedClusters(path, target, format);
  writeBackingName(path, backing ? { name: backing, format } : undefined);
}

function copyChangedClusters(path: string, target: string | undefined, format: DiskFormat | undefined): void {
  const image = Qcow2Image.open(path, { readOnly: false });
  let newBase: SyncDisk | undefined;
  try {
    if (target) {
      const guard = new ChainGuard();
      guard.enter(path, image.file.fd, path); // the new base must not lead back to this image
      newBase = openChainMember(target, format, guard, path);
    }
    const old = Buffer.allocUnsafe(CHUNK),
      now = Buffer.allocUnsafe(CHUNK);
    let g = 0;
    while (g < image.size) {
      const m = image.mapGuest(g);
      const n = Math.min(m.avail, CHUNK, image.size - g);
      if (m.kind === Kind.Unallocated) {
        const a = old.subarray(0, n),
          b = now.subarray(0, n);
        image.readSync(g, a);
        const fromNew = newBase ? Math.max(0, Math.min(n, newBase.size - g)) : 0;
        if (fromNew > 0) newBase!.readSync(g, b.subarray(0, fromNew));
        b.fill(0, fromNew);
        if (!a.equals(b)) image.writeSync(g, a);
      }
      g += n;
    }
  } finally {
    newBase?.closeSync();
    image.closeSync();
  }
}

function writeBackingName(path: string, backing: { name: string; format?: string } | undefined): void {
  const file = ImageFile.open(path, false);
  try {
    const probe = file.readMeta(0, headerProbeLength(file.length), 'header');
    const header = parseHeader(path, probe, file.length);
    const area = buildHeaderArea(path, header, backing);
    // Clear what the old header area used beyond the new one, so no stale name lingers.
    const oldEnd = Math.min(header.clusterSize, probe.length);
    const padded = Buffer.alloc(Math.max(area.length, Math.min(oldEnd, header.clusterSize)));
    area.copy(padded);
    file.write(0, padded);
    file.sync();
  } finally {
    file.close();
  }
}
