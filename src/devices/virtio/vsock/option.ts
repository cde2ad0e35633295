// `--vsock cid=N[,uds=PATH]`: a virtio-vsock device whose host side is the
// unix socket PATH (see unix-backend.ts); PATH defaults to a per-VM name in
// the current directory.
import { resolve } from 'node:path';
import { UserError } from '../../../errors.js';
import { MAX_GUEST_CID, MIN_GUEST_CID } from './packet.js';

export interface VsockOption {
  readonly cid: number;
  readonly uds: string;
}

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** Guest-initiated connections use "PATH_<port>", up to 11 more bytes. */
const PORT_SUFFIX = '_4294967295'.length;

export function parseVsockOption(text: string): VsockOption {
  let cid: number | undefined;
  let uds: string | undefined;
  for (const part of text.split(',')) {
    const [key, value] = part.split('=', 2) as [string, string | undefined];
    if (key === 'cid' && value && /^[0-9]{1,10}$/.test(value)) cid = Number(value);
    else if (key === 'uds' && value) uds = resolve(value);
    else throw new UserError(`--vsock ${text}: "${part}" is not cid=N or uds=PATH`);
  }
  if (cid === undefined) throw new UserError(`--vsock ${text}: cid=N is required`);
  if (cid < MIN_GUEST_CID || cid > MAX_GUEST_CID) throw new UserError(`--vsock ${text}: cid must be from ${MIN_GUEST_CID} to ${MAX_GUEST_CID} (0-2 are reserved)`);
  const path = uds ?? resolve(`mvm-${process.pid}.vsock`);
  if (Buffer.byteLength(path) + PORT_SUFFIX > MAX_SOCKET_PATH) throw new UserError(`--vsock ${text}: socket path ${path} is too long for a unix socket (at most ${MAX_SOCKET_PATH - PORT_SUFFIX} bytes)`);
  return { cid, uds: path };
}
