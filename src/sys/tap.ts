// A TAP network interface (Documentation/networking/tuntap.rst): open
// /dev/net/tun and attach the fd to a named tap device with TUNSETIFF. The
// fd then reads and writes whole Ethernet frames, one per system call.
import { closeSync, constants, openSync } from 'node:fs';
import { ioctlWithBuffer } from './libc.js';

/** _IOW('T', 202, int) from <linux/if_tun.h>. */
const TUNSETIFF = 0x4004_54ca;
/** A tap (Ethernet frames), not a tun (IP packets). */
const IFF_TAP = 0x0002;
/** No 4-byte packet-information prefix on each frame. */
const IFF_NO_PI = 0x1000;
/** struct ifreq: a 16-byte interface name, then a union whose first member is the flags short. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;
const IFR_FLAGS_OFFSET = 16;

export interface Tap {
  readonly fd: number;
  readonly name: string;
  close(): void;
}

/** Opens (creating it if this process may) the tap interface `name`, non-blocking. */
export function openTap(name: string): Tap {
  const encoded = Buffer.from(name, 'ascii');
  if (encoded.length === 0 || encoded.length >= IFNAMSIZ || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new RangeError(`tap name "${name}" must be 1-${IFNAMSIZ - 1} letters, digits, ".", "_" or "-"`);
  }
  const fd = openSync('/dev/net/tun', constants.O_RDWR | constants.O_NONBLOCK);
  try {
    const ifreq = new Uint8Array(IFREQ_SIZE);
    ifreq.set(encoded, 0);
    new DataView(ifreq.buffer).setUint16(IFR_FLAGS_OFFSET, IFF_TAP | IFF_NO_PI, true);
    ioctlWithBuffer(fd, TUNSETIFF, ifreq, `TUNSETIFF ${name}`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return { fd, name, close: () => closeSync(fd) };
}
