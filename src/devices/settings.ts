// What the devices are given to attach: typed settings, already checked.
// src/config makes them from a flag (--disk, --net, --vsock) or from a
// --config file's section, with one parser each, so the devices never see
// option text and their messages never name a flag.

/** overlay: a throw-away qcow2 overlay takes the guest's writes; persistent: the image itself does; ro: read-only. */
export type DriveMode = 'overlay' | 'persistent' | 'ro';

export interface DriveSettings {
  /** Absolute path of a regular file or block device. */
  readonly path: string;
  readonly mode: DriveMode;
}

export interface NetSettings {
  /** The tap interface's name (1-15 characters). */
  readonly tap: string;
  /** The NIC's unicast MAC address, 6 bytes. */
  readonly mac: Uint8Array;
}

export interface VsockSettings {
  /** The guest's CID, MIN_GUEST_CID..MAX_GUEST_CID. */
  readonly cid: number;
  /** Absolute path of the host's unix socket, short enough for a port suffix. */
  readonly uds: string;
}

export interface ShareSettings {
  /** Absolute path of the host directory shared. */
  readonly path: string;
  /** The guest's mount tag (mount -t virtiofs TAG /mnt): 1-36 bytes. */
  readonly tag: string;
  /** The guest may not change anything in the directory (enforced on the host, not by the guest). */
  readonly readOnly: boolean;
  /** Where the guest's init mounts the share by itself, if anywhere (an absolute guest path). */
  readonly mountPoint?: string;
}
