// Helper settings from the environment, the QEMU command line built from
// them, and the runtime directory rules.
import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { exitCodeOf, forwardedEnv } from '../../src/helper/client.js';
import {
  GUEST_DAEMON_PORT,
  decodeCmdlineValue,
  encodeCmdlineValue,
  helperKernelCmdline,
  helperQemuArgs,
  parseDaemonParams,
  type HelperQemuOptions,
} from '../../src/helper/qemu-command.js';
import { normaliseShares, parseMemoryMiB, readHelperSettings, uncoveredShares } from '../../src/helper/settings.js';
import { cacheRoot, helperStateDir, runtimeRoot } from '../../src/runtime/paths.js';

const OPTIONS: HelperQemuOptions = {
  kernel: '/img/vmlinuz',
  initrd: '/img/initrd.cpio.gz',
  memoryMiB: 4096,
  cpus: 1,
  hostPort: 40001,
  writableShares: ['/tmp', '/home/u/.cache/mvm'],
  nodePath: '/usr/bin/node',
  daemonPath: '/p/dist/src/helper/daemon.js',
  tokenPath: '/tmp/mvm-0/helper/token',
  idleSeconds: 600,
  consoleLog: '/tmp/mvm-0/helper/console.log',
  pidFile: '/tmp/mvm-0/helper/qemu.pid',
};

function optionValue(args: string[], option: string): string[] {
  return args.flatMap((arg, i) => (arg === option ? [args[i + 1]] : []));
}

describe('helper/settings and QEMU command', () => {
  it('parses memory sizes and refuses nonsense', () => {
    expect(parseMemoryMiB('4G')).to.equal(4096);
    expect(parseMemoryMiB('3072M')).to.equal(3072);
    expect(parseMemoryMiB('2048')).to.equal(2048);
    expect(() => parseMemoryMiB('4T')).to.throw(UserError);
    expect(() => parseMemoryMiB('64M')).to.throw(UserError, /at least/);
  });

  it('reads defaults and overrides from the environment', () => {
    const defaults = readHelperSettings({ MVM_RUN_DIR: '/r', MVM_CACHE: '/c', TMPDIR: '/t' });
    expect(defaults.idleSeconds).to.equal(600);
    expect(defaults.memoryMiB).to.equal(4096);
    expect(defaults.writableShares).to.include.members(['/r', '/c', '/t']);
    const custom = readHelperSettings({ MVM_HELPER_IDLE_SECONDS: '0', MVM_HELPER_MEMORY: '1G', MVM_HELPER_CPUS: '2', MVM_HELPER_SHARES: '/a:/b' });
    expect(custom).to.include({ idleSeconds: 0, memoryMiB: 1024, cpus: 2 });
    expect(custom.writableShares).to.deep.equal(['/a', '/b']);
    expect(() => readHelperSettings({ MVM_HELPER_CPUS: 'two' })).to.throw(UserError, /whole number/);
    expect(() => readHelperSettings({ MVM_HELPER_IDLE_SECONDS: '-5' })).to.throw(UserError);
  });

  it('drops shares nested in other shares and refuses unsafe ones', () => {
    expect(normaliseShares(['/tmp/mvm-0', '/tmp', '/work/x', '/tmp'])).to.deep.equal(['/tmp', '/work/x']);
    expect(normaliseShares(['/tmpfoo', '/tmp'])).to.deep.equal(['/tmp', '/tmpfoo']);
    expect(() => normaliseShares(['relative'])).to.throw(UserError, /absolute/);
    expect(normaliseShares(['/a b', '/c,d:e'])).to.deep.equal(['/a b', '/c,d:e']); // a clone's path may hold these
    expect(() => normaliseShares(['/'])).to.throw(UserError, /read-only/);
  });

  it('finds the directories a running helper cannot write: not under any of its shares', () => {
    expect(uncoveredShares(['/tmp/mvm-0', '/home/u/.cache/mvm', '/work/x'], ['/tmp', '/home/u/.cache/mvm', '/work/x'])).to.deep.equal([]);
    expect(uncoveredShares(['/tmp/t 1', '/work/y'], ['/tmp/t', '/work/x'])).to.deep.equal(['/tmp/t 1', '/work/y']);
    expect(uncoveredShares(['/tmpfoo'], ['/tmp'])).to.deep.equal(['/tmpfoo']);
  });

  it('forwards the daemon port from loopback only, and shares / read-only', () => {
    const args = helperQemuArgs(OPTIONS);
    const [netdev] = optionValue(args, '-netdev');
    expect(netdev).to.include(`hostfwd=tcp:127.0.0.1:40001-10.0.2.15:${GUEST_DAEMON_PORT}`);
    expect(netdev).to.include('restrict=on');
    const shares = optionValue(args, '-virtfs');
    expect(shares[0]).to.match(/^local,path=\/,mount_tag=hostroot,.*readonly=on/);
    expect(shares.slice(1)).to.deep.equal([
      'local,path=/tmp,mount_tag=rw0,security_model=none,multidevs=remap',
      'local,path=/home/u/.cache/mvm,mount_tag=rw1,security_model=none,multidevs=remap',
    ]);
    expect(optionValue(args, '-cpu')).to.deep.equal(['EPYC,+svm']);
    expect(optionValue(args, '-accel')).to.deep.equal(['tcg']);
    expect(optionValue(args, '-smp')).to.deep.equal(['1']);
    expect(args).to.include('-no-reboot');
  });

  it('writes a kernel command line the daemon reads back', () => {
    const cmdline = helperKernelCmdline(OPTIONS);
    expect(cmdline).to.include('mvm.rw=rw0:/tmp,rw1:/home/u/.cache/mvm');
    expect(parseDaemonParams(`BOOT_IMAGE=x ${cmdline}`)).to.deep.equal({
      tokenPath: OPTIONS.tokenPath,
      port: GUEST_DAEMON_PORT,
      idleSeconds: 600,
    });
    expect(() => helperKernelCmdline({ ...OPTIONS, nodePath: '' })).to.throw(UserError, /empty node path/);
  });

  it('carries paths with spaces, commas, colons and non-ASCII bytes to the helper intact', () => {
    const odd = { ...OPTIONS, tokenPath: '/tmp/my work/x,y:z%/tök', writableShares: ['/tmp/my work', '/a,b'] };
    const cmdline = helperKernelCmdline(odd);
    // One word per parameter, and the share list still splits on commas and colons only where it should.
    const names = cmdline
      .split(' ')
      .filter((w) => w.startsWith('mvm.'))
      .map((w) => w.split('=')[0]);
    expect(names).to.deep.equal(['mvm.node', 'mvm.daemon', 'mvm.token', 'mvm.port', 'mvm.idle', 'mvm.rw']);
    expect(cmdline).to.include('mvm.rw=rw0:/tmp/my%20work,rw1:/a%2Cb');
    expect(parseDaemonParams(cmdline).tokenPath).to.equal(odd.tokenPath);
    expect(decodeCmdlineValue(encodeCmdlineValue('x', odd.tokenPath))).to.equal(odd.tokenPath);
    // QEMU reads a doubled comma as a comma inside the value.
    expect(optionValue(helperQemuArgs(odd), '-virtfs')[2]).to.match(/^local,path=\/a,,b,mount_tag=rw1,/);
    expect(() => parseDaemonParams('mvm.port=1')).to.throw(/mvm.token/);
    expect(() => parseDaemonParams('mvm.token=/t mvm.port=x')).to.throw(/port/);
  });

  it('resolves the runtime root: MVM_RUN_DIR, then XDG_RUNTIME_DIR/mvm, then /tmp/mvm-<uid>', () => {
    expect(runtimeRoot({ MVM_RUN_DIR: '/x/run', XDG_RUNTIME_DIR: '/run/user/7' }, 7)).to.equal('/x/run');
    expect(runtimeRoot({ XDG_RUNTIME_DIR: '/run/user/7' }, 7)).to.equal('/run/user/7/mvm');
    expect(runtimeRoot({}, 7)).to.equal('/tmp/mvm-7');
    expect(helperStateDir({ MVM_RUN_DIR: '/x/run' }, '/src/mvm')).to.match(/^\/x\/run\/helper-[0-9a-f]{8}$/);
    // Two trees never share a helper: each runs its own code.
    expect(helperStateDir({ MVM_RUN_DIR: '/x/run' }, '/src/mvm')).to.not.equal(helperStateDir({ MVM_RUN_DIR: '/x/run' }, '/ci/mvm'));
    expect(helperStateDir({ MVM_RUN_DIR: '/x/run' }, '/src/mvm')).to.equal(helperStateDir({ MVM_RUN_DIR: '/x/run' }, '/src/mvm'));
    expect(cacheRoot({ MVM_CACHE: '/c' })).to.equal('/c');
    expect(cacheRoot({ HOME: '/home/u' })).to.equal('/home/u/.cache/mvm');
  });

  it('forwards the session and MVM_* variables but never the helper switches', () => {
    const env = forwardedEnv({ TERM: 'xterm', MVM_CACHE: '/c', MVM_HELPER: 'always', MVM_IN_HELPER: '1', SECRET_TOKEN: 's' });
    expect(env).to.deep.equal({ TERM: 'xterm', MVM_CACHE: '/c' });
  });

  it('turns remote exit statuses into shell-style codes', () => {
    expect(exitCodeOf({ code: 7, signal: null })).to.equal(7);
    expect(exitCodeOf({ code: null, signal: 'SIGTERM' })).to.equal(143);
    expect(exitCodeOf({ code: null, signal: 'SIGKILL' })).to.equal(137);
  });
});
