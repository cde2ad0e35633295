// virtio-net end to end: inside the helper VM (where Linux guests run on PVM
// hosts) the spec makes a tap interface with a host address, boots the guest
// with `mvm run --net tap=…` and the kernel's ip= parameter, and pings the
// host side from the guest. It needs /dev/net/tun in the helper VM, which
// images/build-helper.sh provides by loading the tun module.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MVM_BIN, PROJECT_ROOT, runMvm, shellQuote } from '../helpers/mvm-cli.js';

const KERNEL = resolve(PROJECT_ROOT, 'images/out/vmlinux');
const TAP = 'mvmspec0';
const HOST_IP = '10.213.0.1';
const GUEST_IP = '10.213.0.2';

describe('virtio-net in a Linux guest (end to end)', function () {
  this.timeout(300_000);
  let dir: string;
  let env: Record<string, string>;
  const mvm = (args: string[]) => runMvm(args, { env, timeoutMs: 280_000 });

  before(async () => {
    if (!existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: \`make test\` builds it (make images)`);
    dir = mkdtempSync(join(tmpdir(), 'mvm-virtio-net-e2e-'));
    env = { MVM_RUN_DIR: join(dir, 'run'), MVM_HELPER_IDLE_SECONDS: '60' };
    const probe = await mvm(['helper', 'exec', '--', 'sh', '-c', 'test -c /dev/net/tun && echo TUN-OK || echo TUN-MISSING']);
    expect(probe.stdout, 'the helper VM must offer /dev/net/tun (images/build-helper.sh loads tun)').to.include('TUN-OK');
  });

  after(async () => {
    if (env) await runMvm(['helper', 'stop'], { env });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('pings the host side of a tap interface from the guest', async () => {
    const guest =
      `node ${shellQuote(MVM_BIN)} run --net tap=${TAP},mac=02:00:00:00:00:02 ` +
      `--append ip=${GUEST_IP}::${HOST_IP}:255.255.255.0::eth0:off -- sh -c "cat /sys/class/net/eth0/address; ping -c 3 ${HOST_IP}"`;
    const script =
      `set -e; ip tuntap add dev ${TAP} mode tap; trap "ip tuntap del dev ${TAP} mode tap" EXIT; ` +
      `ip addr add ${HOST_IP}/24 dev ${TAP}; ip link set ${TAP} up; ${guest}`;
    const result = await mvm(['helper', 'exec', '--', 'sh', '-c', script]);
    expect(result.stdout).to.include('02:00:00:00:00:02');
    expect(result.stdout).to.match(/3 packets transmitted, 3 packets received, 0% packet loss/);
    expect(result.status).to.equal(0);
  });
});
