// A copy-on-write overlay of an image: an empty qcow2 file of the image's size
// whose backing file is the image (its format probed and recorded, so the
// overlay never has to guess it again). Writes land in the overlay; the image
// is only read. A microVM's default drive is one of these (src/devices/virtio/
// block/drives.ts for `mvm run`, src/fleet/detach.ts for `mvm run -d`).
import { openSync, probeFormat } from './open.js';
import { createQcow2 } from './qcow2/create.js';

/** Creates OVERLAY (which must not exist yet) over the image at BASE. */
export function createOverlay(overlay: string, base: string): void {
  const image = openSync(base, { readOnly: true });
  const size = image.size;
  image.closeSync();
  createQcow2(overlay, { size, backing: { name: base, format: probeFormat(base) } });
}
