// The shared directories of one VM: a virtiofsd per share, its vhost-user
// handshake done before the guest starts (so a back-end that cannot speak is
// a one-line failure at start), and a virtio-fs device on top.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import type { ShareSettings } from '../../settings.js';
import { VhostUserError } from '../vhost-user/frontend.js';
import { VirtioFs } from './device.js';
import { type RunningVirtiofsd, startVirtiofsd } from './virtiofsd.js';

export interface OpenShares {
  readonly devices: readonly VirtioFs[];
  /** Disconnects every device and ends every virtiofsd. Never throws. */
  close(): void;
}

export function openShares(shares: readonly ShareSettings[], warn: (message: string) => void): OpenShares {
  const running: RunningVirtiofsd[] = [];
  const devices: VirtioFs[] = [];
  const close = () => {
    for (const d of devices.splice(0)) d.close();
    for (const r of running.splice(0)) r.close();
  };
  try {
    shares.forEach((share, i) => {
      const daemon = startVirtiofsd(share, join(tmpdir(), `mvm-virtiofsd-${process.pid}-${i}.log`));
      running.push(daemon);
      try {
        const handshake = daemon.frontend.handshake();
        const device = new VirtioFs(share.tag, daemon.frontend, handshake, warn);
        devices.push(device);
        daemon.process.on('exit', (code, signal) => device.backendExited(`exited (${signal ?? `status ${code}`})`));
      } catch (err) {
        daemon.frontend.close();
        if (err instanceof VhostUserError) throw new UserError(`share ${share.path}: ${err.message} (log: ${daemon.logPath})`);
        throw err;
      }
    });
  } catch (err) {
    close();
    throw err;
  }
  return { devices, close };
}
