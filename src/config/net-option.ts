// A NIC's settings, from `--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]` or from a
// [net.NAME] section's tap and mac: a virtio-net device on an existing tap
// interface (or one this process may create). The guest's IP address comes
// from the kernel's `ip=` parameter (--append).
import { randomBytes } from 'node:crypto';
import type { NetSettings } from '../devices/settings.js';
import { SettingError, flagSetting } from './setting-error.js';

/** Bit 1 of the first octet: a locally administered address, so a random MAC never collides with a vendor's. */
const LOCALLY_ADMINISTERED = 0x02;
/** Bit 0 of the first octet: multicast, which a NIC's own address must not be. */
const MULTICAST = 0x01;
const MAC_BYTES = 6;
/** IFNAMSIZ (16) with the terminating NUL. */
const TAP_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Checks a NIC: a tap name, and a MAC (random, locally administered, when none is given). */
export function netSettings(tap: string, macText?: string): NetSettings {
  if (!TAP_NAME.test(tap)) throw new SettingError('tap', 'tap name must be 1-15 letters, digits, ".", "_" or "-"');
  return { tap, mac: macText === undefined ? randomMac() : parseMac(macText) };
}

/** Parses one --net value. */
export function parseNetFlag(text: string): NetSettings {
  return flagSetting('--net', text, () => {
    let tap: string | undefined;
    let mac: string | undefined;
    for (const part of text.split(',')) {
      const [key, value] = part.split('=', 2) as [string, string | undefined];
      if (key === 'tap' && value) tap = value;
      else if (key === 'mac' && value) mac = value;
      else throw new SettingError(undefined, `"${part}" is not tap=NAME or mac=XX:XX:XX:XX:XX:XX`);
    }
    if (!tap) throw new SettingError(undefined, 'tap=NAME is required');
    return netSettings(tap, mac);
  });
}

function parseMac(value: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(value)) throw new SettingError('mac', `MAC "${value}" is not six hex pairs separated by colons`);
  const mac = Uint8Array.from(value.split(':').map((h) => parseInt(h, 16)));
  if (mac[0]! & MULTICAST) throw new SettingError('mac', `MAC ${value} is a multicast address`);
  return mac;
}

function randomMac(): Uint8Array {
  const mac = randomBytes(MAC_BYTES);
  mac[0] = (mac[0]! & ~MULTICAST) | LOCALLY_ADMINISTERED;
  return new Uint8Array(mac);
}
