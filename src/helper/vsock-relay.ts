// `mvm run --vsock cid=N,uds=PATH` on a host whose VMs run inside the helper
// VM. The VMM in there cannot listen on PATH: the host's filesystem reaches
// the helper over 9p, which cannot hold a listening unix socket. So the
// forwarded run listens on a socket on the helper's local /run/mvm instead, and
// this host listens on PATH and relays each connection to it
// (socket-relay.ts): host programs connect to PATH and write "CONNECT <port>"
// exactly as without the helper.
//
// Guest-to-host connections (the guest connecting to CID 2 port P, which
// reach PATH_P) cannot take that way: the relay carries connections from the
// host into the helper, not back out. The VMM in the helper refuses them with
// a line naming PATH_P (vsock-relayed-from.ts) instead of failing silently.
import { existsSync, lstatSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { VsockSettings } from '../devices/settings.js';
import { UserError } from '../errors.js';
import { decideHelper, detectHostKvm, helperPolicy, insideHelper } from './host-kvm.js';
import { relayHostSocket } from './socket-relay.js';
import { HELPER_RUN_DIR } from './vmm-activity.js';
import { VSOCK_RELAYED_FROM_ENV } from './vsock-relayed-from.js';

const UNIQUE_SUFFIX_BYTES = 4;

export interface VsockRelay {
  /** The argv to forward: --vsock names the helper-local socket. */
  readonly argv: string[];
  close(): void;
}

/** ARGV with the value of its --vsock option (before any `--`) replaced by VALUE. */
export function withVsockValue(argv: readonly string[], value: string): string[] {
  const out = [...argv];
  for (let i = 0; i < out.length && out[i] !== '--'; i++) {
    if (out[i] === '--vsock' && i + 1 < out.length) {
      out[i + 1] = value;
      return out;
    }
    if (out[i]!.startsWith('--vsock=')) {
      out[i] = `--vsock=${value}`;
      return out;
    }
  }
  throw new Error('the command line has no --vsock option to forward');
}

/**
 * When this `mvm run` will be forwarded to the helper VM and has --vsock:
 * listens on the option's PATH here, relaying to a new socket inside the
 * helper, and returns the argv to forward. Undefined when nothing needs relaying.
 */
export async function relayVsockIfForwarded(argv: readonly string[], option: VsockSettings | undefined): Promise<VsockRelay | undefined> {
  if (!option || !decideHelper(detectHostKvm(), helperPolicy(), insideHelper()).useHelper) return undefined;
  // The relay replaces whatever is at PATH; only a stale socket may be replaced, as without the helper.
  if (existsSync(option.uds) && !lstatSync(option.uds).isSocket()) throw new UserError(`vsock: ${option.uds} exists and is not a socket`);
  // Below the helper's local socket root (the only place its daemon connects to); unique per run.
  const helperPath = `${HELPER_RUN_DIR}/vsock-${process.pid}-${randomBytes(UNIQUE_SUFFIX_BYTES).toString('hex')}.sock`;
  let relay: Awaited<ReturnType<typeof relayHostSocket>>;
  try {
    relay = await relayHostSocket(option.uds, helperPath, { onError: (message) => process.stderr.write(`mvm: vsock: ${message}\n`) });
  } catch (err) {
    throw new UserError(`vsock: cannot listen on ${option.uds} (${err instanceof Error ? err.message : String(err)})`);
  }
  process.env[VSOCK_RELAYED_FROM_ENV] = option.uds;
  return { argv: withVsockValue(argv, `cid=${option.cid},uds=${helperPath}`), close: () => relay.close() };
}
