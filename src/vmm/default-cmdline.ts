// The kernel command line mvm gives a guest unless told otherwise, and how
// a user command travels to the guest's init.

/**
 * console=ttyS0: the 16550 at 0x3f8 is the console.
 * reboot=k: reboot through the i8042 reset line, which the VMM turns into an exit.
 * panic=-1: a panicking kernel resets at once instead of hanging the VM
 *   (mvm reports it as a panic, status 123: the kernel's panic line is on the console).
 * tsc=reliable: under nested virtualisation the TSC watchdog would otherwise distrust it.
 * quiet: every console byte is a VM exit; keep boot messages to warnings.
 * No pci=off, nomodule or i8042.* here: mvm's kernel has neither PCI, modules
 * nor an i8042 driver, and an unknown parameter is handed to init.
 */
export const DEFAULT_BOOT_ARGS = 'console=ttyS0 reboot=k panic=-1 tsc=reliable quiet';

/** Where the guest's console lives: the virtio console (hvc0, the default) or the 16550 UART (ttyS0). */
export type ConsoleDevice = 'virtio' | 'serial';
export const CONSOLE_DEVICES: readonly ConsoleDevice[] = ['virtio', 'serial'];
const CONSOLE_PARAMETER: Record<ConsoleDevice, string> = { serial: 'console=ttyS0', virtio: 'console=hvc0' };

/** The default command line with the console on `device`. */
export function defaultBootArgs(device: ConsoleDevice): string {
  return DEFAULT_BOOT_ARGS.replace(CONSOLE_PARAMETER.serial, CONSOLE_PARAMETER[device]);
}

/**
 * What booting from a disk without an initramfs needs (mvm's root disk,
 * images/build-rootdisk.sh):
 * root=/dev/vda: the first --disk is the root filesystem;
 * rw: the session writes /run, a guest may write anywhere (by default on the
 *   VM's throw-away overlay);
 * init=/init: mvm's init, not /sbin/init (busybox init, which would skip it);
 * devtmpfs.mount=0: the kernel would mount devtmpfs on /dev itself for a disk
 *   root, and the init's own mount of it would then fail.
 */
export const ROOT_DISK_PARAMETERS: readonly string[] = ['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0'];

/** Parameters that say the same thing: a user's `ro` replaces the default `rw`. */
const SAME_SETTING: Record<string, string> = { ro: 'rw' };
const settingOf = (word: string) => {
  const key = word.split('=', 1)[0]!;
  return SAME_SETTING[key] ?? key;
};

export interface RootDiskChoice {
  /** An initramfs is loaded (its /init runs; no root= needed). */
  readonly initrd: boolean;
  readonly disks: number;
  /** The user replaced the whole command line (--boot-args): nothing is added to it. */
  readonly replacedCommandLine: boolean;
  /** The parameters the user added (--append). */
  readonly appended: readonly string[];
}

/**
 * The root-disk parameters `mvm run --initrd '' --disk X` adds on its own:
 * all of ROOT_DISK_PARAMETERS when there is no initramfs, a disk, no
 * --boot-args and no root= of the user's, less any setting the user already
 * chose (an appended init=/bin/sh stays the only init=).
 */
export function rootDiskParameters(choice: RootDiskChoice): string[] {
  if (choice.initrd || choice.disks === 0 || choice.replacedCommandLine) return [];
  // One --append may carry several words ("root=/dev/vdb ro").
  const chosen = new Set(
    choice.appended
      .flatMap((p) => p.split(/\s+/))
      .filter((w) => w !== '')
      .map(settingOf),
  );
  if (chosen.has('root')) return [];
  return ROOT_DISK_PARAMETERS.filter((word) => !chosen.has(settingOf(word)));
}

/**
 * The user's command as `mvm.cmd=<base64>`: the kernel's command-line parser
 * splits on spaces and eats quotes, so the command is encoded whole and the
 * guest's init decodes it (firmware/init) and runs it with /bin/sh -c. Each
 * word is quoted, so argv arrives as argv, as with `docker run IMAGE CMD…`.
 */
export function commandParameter(argv: readonly string[]): string {
  const script = argv.map(shellQuote).join(' ');
  return `mvm.cmd=${Buffer.from(script, 'utf8').toString('base64')}`;
}

/** Quotes one word for /bin/sh so it arrives as the same single argument. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
