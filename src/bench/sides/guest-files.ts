// What the VM sides need before they can boot: the guest kernel and initramfs
// files and a /dev/kvm that runs Linux guests from this process.
import { accessSync, constants, existsSync } from 'node:fs';
import { DEV_KVM } from '../../helper/host-kvm.js';
import type { GuestFiles } from '../boot/contenders.js';
import { linuxGuestLocation } from '../harness.js';

/** Null when FILES exist and this process can boot Linux guests on /dev/kvm itself; else why not. */
export function guestBootUnavailable(files: GuestFiles): string | null {
  for (const [what, file] of [
    ['kernel', files.kernel],
    ['initramfs', files.initrd],
  ] as const) {
    if (!existsSync(file)) return `the guest ${what} ${file} does not exist (make images)`;
  }
  if (linuxGuestLocation() === 'helper')
    return "this host's KVM cannot run Linux guests: run the benchmark through mvm bench, which moves it into the helper VM";
  try {
    accessSync(DEV_KVM, constants.R_OK | constants.W_OK);
  } catch (err) {
    return `${DEV_KVM} cannot be opened: ${(err as Error).message}`;
  }
  return null;
}
