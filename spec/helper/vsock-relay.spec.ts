// The parts of `mvm run --vsock` relayed into the helper VM that need no
// helper: the forwarded argv, what the VMM in the helper does with a relayed
// socket, and the backend's refusal of guest-to-host connections there.
// (End to end, through a real helper: spec/virtio/vsock-e2e.spec.ts.)
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withVsockValue } from '../../src/helper/vsock-relay.js';
import { VSOCK_RELAYED_FROM_ENV, relayedBackendOptions } from '../../src/helper/vsock-relayed-from.js';
import { UnixSocketBackend } from '../../src/devices/virtio/vsock/unix-backend.js';

describe('vsock relayed into the helper VM (parts)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mvm-vsock-relay-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('forwards the argv with only the --vsock value replaced, in either spelling, never after --', () => {
    expect(withVsockValue(['run', '--vsock', 'cid=3,uds=/h/v.sock', '--', 'echo', '--vsock', 'x'], 'NEW')).to.deep.equal([
      'run',
      '--vsock',
      'NEW',
      '--',
      'echo',
      '--vsock',
      'x',
    ]);
    expect(withVsockValue(['run', '--vsock=cid=3', '-m', '1G'], 'NEW')).to.deep.equal(['run', '--vsock=NEW', '-m', '1G']);
    expect(() => withVsockValue(['run', '--', '--vsock', 'x'], 'NEW')).to.throw('no --vsock');
  });

  it('changes nothing in the VMM unless it runs inside the helper with a relayed socket', () => {
    const uds = join(dir, 'sub', 'v.sock');
    expect(relayedBackendOptions(uds, {})).to.deep.equal({});
    expect(relayedBackendOptions(uds, { [VSOCK_RELAYED_FROM_ENV]: '/host/v.sock' })).to.deep.equal({});
    expect(relayedBackendOptions(uds, { MVM_IN_HELPER: '1' })).to.deep.equal({});
    expect(existsSync(join(dir, 'sub'))).to.equal(false);
  });

  it('inside the helper with a relayed socket: makes its directory and refuses guest connections naming PATH_P on the host', async () => {
    const uds = join(dir, 'sub', 'v.sock');
    const options = relayedBackendOptions(uds, { MVM_IN_HELPER: '1', [VSOCK_RELAYED_FROM_ENV]: '/host/v.sock' });
    expect(existsSync(join(dir, 'sub'))).to.equal(true);
    const warnings: string[] = [];
    const backend = new UnixSocketBackend(uds, (m) => warnings.push(m), options);
    try {
      await backend.listening();
      const stream = backend.connect(6000);
      const events: string[] = [];
      stream.attach({
        connected: () => events.push('connected'),
        data: () => events.push('data'),
        ended: () => events.push('ended'),
        closed: () => events.push('closed'),
      });
      await new Promise((r) => setImmediate(r));
      expect(events).to.deep.equal(['closed']);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^vsock: the guest's connection to host port 6000 cannot reach \/host\/v\.sock_6000: .*helper VM/);
    } finally {
      backend.close();
    }
  });
});
