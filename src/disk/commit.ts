// `mvm image commit`: writes an overlay's own clusters into its backing file,
// then empties the overlay so it reads through to the updated base.
import { ImageError } from './errors.js';
import { refuseIfInUse } from './image-lock.js';
import { openSync } from './open.js';
import { Qcow2Image } from './qcow2/image.js';
import { Kind } from './qcow2/mapping.js';

/** Most bytes moved per read/write pair. */
const CHUNK = 4 << 20;

export async function commitImage(path: string): Promise<{ bytes: number }> {
  const top = Qcow2Image.open(path, { readOnly: true });
  let bytes = 0;
  try {
    if (!top.backing) throw new ImageError(path, 'image has no backing file to commit into');
    await refuseIfInUse(path);
    await refuseIfInUse(top.backing.path);
    const base = openSync(top.backing.path, { readOnly: false, format: top.backing.format });
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      let g = 0;
      while (g < top.size) {
        const m = top.mapGuest(g);
        let n = Math.min(m.avail, top.size - g);
        if (m.kind === Kind.Unallocated) {
          g += n;
          continue;
        }
        if (m.kind !== Kind.Zero) {
          // Gather following allocated data clusters into one transfer.
          while (g + n < top.size && n < CHUNK) {
            const next = top.mapGuest(g + n);
            if (next.kind === Kind.Unallocated || next.kind === Kind.Zero) break;
            n = Math.min(n + next.avail, CHUNK, top.size - g);
          }
        }
        if (g + n > base.size) throw new ImageError(path, `overlay data at offset ${g} lies beyond the end of the ${base.size}-byte backing file`);
        if (m.kind === Kind.Zero) base.writeZeroesSync(g, n);
        else {
          top.readSync(g, buf.subarray(0, n));
          base.writeSync(g, buf.subarray(0, n));
        }
        bytes += n;
        g += n;
      }
    } finally {
      base.closeSync();
    }
  } finally {
    top.closeSync();
  }
  const overlay = Qcow2Image.open(path, { readOnly: false });
  try {
    overlay.deallocateSync(0, overlay.size);
  } finally {
    overlay.closeSync();
  }
  return { bytes };
}
