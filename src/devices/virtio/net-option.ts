// `--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]`: a virtio-net device on an
// existing tap interface (or one this process may create). The guest's IP
// address comes from the kernel's `ip=` parameter (--append).
import { randomBytes } from 'node:crypto';
import { UserError } from '../../errors.js';

export interface NetOption {
  readonly tap: string;
  readonly mac: Uint8Array;
}

/** Bit 1 of the first octet: a locally administered address, so a random MAC never collides with a vendor's. */
const LOCALLY_ADMINISTERED = 0x02;
/** Bit 0 of the first octet: multicast, which a NIC's own address must not be. */
const MULTICAST = 0x01;

export function parseNetOption(text: string): NetOption {
  let tap: string | undefined;
  let mac: Uint8Array | undefined;
  for (const part of text.split(',')) {
    const [key, value] = part.split('=', 2) as [string, string | undefined];
    if (key === 'tap' && value) tap = value;
    else if (key === 'mac' && value) mac = parseMac(value, text);
    else throw new UserError(`--net ${text}: "${part}" is not tap=NAME or mac=XX:XX:XX:XX:XX:XX`);
  }
  if (!tap) throw new UserError(`--net ${text}: tap=NAME is required`);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tap)) throw new UserError(`--net ${text}: tap name must be 1-15 letters, digits, ".", "_" or "-"`);
  return { tap, mac: mac ?? randomMac() };
}

function parseMac(value: string, text: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(value)) throw new UserError(`--net ${text}: MAC "${value}" is not six hex pairs separated by colons`);
  const mac = Uint8Array.from(value.split(':').map((h) => parseInt(h, 16)));
  if (mac[0]! & MULTICAST) throw new UserError(`--net ${text}: MAC ${value} is a multicast address`);
  return mac;
}

function randomMac(): Uint8Array {
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & ~MULTICAST) | LOCALLY_ADMINISTERED;
  return new Uint8Array(mac);
}
