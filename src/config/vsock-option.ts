// The vsock device's settings, from `--vsock cid=N[,uds=PATH]` or from the
// [vsock] section's cid and uds: a virtio-vsock device whose host side is the
// unix socket PATH (see src/devices/virtio/vsock/unix-backend.ts); PATH
// defaults to a per-VM name in the current directory.
import { resolve } from 'node:path';
import type { VsockSettings } from '../devices/settings.js';
import { MAX_GUEST_CID, MIN_GUEST_CID } from '../devices/virtio/vsock/packet.js';
import { SettingError, flagSetting } from './setting-error.js';

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** Guest-initiated connections use "PATH_<port>", up to 11 more bytes. */
const PORT_SUFFIX = '_4294967295'.length;
/** A CID is a u32: at most ten decimal digits. */
const CID_TEXT = /^[0-9]{1,10}$/;

/** Checks the vsock device: a guest CID, and the socket path (relative to the working directory). */
export function vsockSettings(cidText: string, udsPath?: string): VsockSettings {
  if (!CID_TEXT.test(cidText)) throw new SettingError('cid', `cid must be a whole number, not "${cidText}"`);
  const cid = Number(cidText);
  if (cid < MIN_GUEST_CID || cid > MAX_GUEST_CID)
    throw new SettingError('cid', `cid must be from ${MIN_GUEST_CID} to ${MAX_GUEST_CID} (0-2 are reserved)`);
  const uds = resolve(udsPath ?? `mvm-${process.pid}.vsock`);
  if (Buffer.byteLength(uds) + PORT_SUFFIX > MAX_SOCKET_PATH) {
    throw new SettingError('uds', `socket path ${uds} is too long for a unix socket (at most ${MAX_SOCKET_PATH - PORT_SUFFIX} bytes)`);
  }
  return { cid, uds };
}

/** Parses the --vsock value. */
export function parseVsockFlag(text: string): VsockSettings {
  return flagSetting('--vsock', text, () => {
    let cid: string | undefined;
    let uds: string | undefined;
    for (const part of text.split(',')) {
      const [key, value] = part.split('=', 2) as [string, string | undefined];
      if (key === 'cid' && value && CID_TEXT.test(value)) cid = value;
      else if (key === 'uds' && value) uds = value;
      else throw new SettingError(undefined, `"${part}" is not cid=N or uds=PATH`);
    }
    if (cid === undefined) throw new SettingError(undefined, 'cid=N is required');
    return vsockSettings(cid, uds);
  });
}
