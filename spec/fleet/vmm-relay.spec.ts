// When the host relay of a helper VM's api.sock ends (src/fleet/api-relay.ts):
// with its VM, with the VM directory, or with the helper VM it relays into.
import { expect } from 'chai';
import { relayStopReason } from '../../src/fleet/api-relay.js';
import type { VmStatus } from '../../src/fleet/vm-status.js';

const RUNNING: VmStatus = {
  name: 'web',
  state: 'running',
  pid: 433,
  where: 'helper',
  apiListen: '/run/mvm/web-433/api.sock',
  startedAt: '2026-11-23T23:34:39.564Z',
  bootMs: 9000,
  exitedAt: null,
  exitStatus: null,
  exitReason: null,
};
const HELPER = 18752;

describe("host relay of a helper VM's API socket: when it ends", () => {
  it('runs on while the VM runs (or stops) in the same helper', () => {
    expect(relayStopReason(RUNNING, RUNNING, true, HELPER, HELPER)).to.equal(null);
    expect(relayStopReason(RUNNING, { ...RUNNING, state: 'stopping' }, true, HELPER, HELPER)).to.equal(null);
    // A state.json caught mid-rename reads as null while the file exists: not a reason.
    expect(relayStopReason(RUNNING, null, true, HELPER, HELPER)).to.equal(null);
  });

  it('ends when the VM has exited or failed', () => {
    expect(relayStopReason(RUNNING, { ...RUNNING, state: 'exited', exitStatus: 0 }, true, HELPER, HELPER)).to.equal('the VM has exited');
    expect(relayStopReason(RUNNING, { ...RUNNING, state: 'failed' }, true, HELPER, HELPER)).to.equal('the VM has failed');
  });

  it('ends when the VM directory was removed (mvm rm) or another VMM owns the name', () => {
    expect(relayStopReason(RUNNING, null, false, HELPER, HELPER)).to.equal('the VM directory is gone');
    expect(relayStopReason(RUNNING, { ...RUNNING, pid: 999 }, true, HELPER, HELPER)).to.equal('another VMM took over the name');
  });

  it('ends when the helper VM is gone or was replaced by another (its VMs died with it)', () => {
    expect(relayStopReason(RUNNING, RUNNING, true, HELPER, null)).to.equal('the helper VM is gone');
    expect(relayStopReason(RUNNING, RUNNING, true, HELPER, HELPER + 1)).to.equal('the helper VM is gone');
  });
});
