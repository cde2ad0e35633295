// What the VMM inside the helper VM learns about a --vsock socket that the
// host relays to it (vsock-relay.ts), kept apart from the relay itself so the
// VMM loads no helper-client code.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { UnixSocketBackendOptions } from '../devices/virtio/vsock/unix-backend.js';
import { insideHelper } from './host-kvm.js';

/**
 * Set for the forwarded run (MVM_* variables travel with helper requests):
 * the host PATH the VMM's socket stands for.
 */
export const VSOCK_RELAYED_FROM_ENV = 'MVM_VSOCK_RELAYED_FROM';
/** Only root (the daemon, the VMMs) uses the helper's socket directory. */
const SOCKET_DIR_MODE = 0o700;

/**
 * In the VMM: when its socket `uds` is relayed from the host, makes the
 * socket's helper-local directory and refuses guest-to-host connections with
 * a reason naming PATH_<port> on the host (the relay only carries connections
 * into the helper); otherwise nothing changes.
 */
export function relayedBackendOptions(uds: string, env: NodeJS.ProcessEnv = process.env): UnixSocketBackendOptions {
  const hostPath = env[VSOCK_RELAYED_FROM_ENV];
  if (!hostPath || !insideHelper(env)) return {};
  mkdirSync(dirname(uds), { recursive: true, mode: SOCKET_DIR_MODE });
  return {
    refuseGuestConnections: (port) =>
      `the guest's connection to host port ${port} cannot reach ${hostPath}_${port}: this VM runs inside the helper VM, and only host-to-guest vsock connections are relayed out of it (run the listener inside the helper: mvm helper exec -- …)`,
  };
}
