import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { DEFAULT_BOOT_ARGS, commandParameter, defaultBootArgs, shellQuote } from '../../src/vmm/default-cmdline.js';

describe('guest command line', () => {
  it('encodes the command as one base64 word with no space or quote in it', () => {
    const param = commandParameter(['sh', '-c', 'echo "a b" \'c\'; exit 3']);
    expect(param).to.match(/^mvm\.cmd=[A-Za-z0-9+/=]+$/);
  });

  it('keeps every argument whole through /bin/sh, as the guest init runs it', () => {
    const argv = ['printf', '[%s]', 'two words', "it's", '$HOME', '`x`', '', 'a\nb', '*'];
    const script = Buffer.from(commandParameter(argv).slice('mvm.cmd='.length), 'base64').toString('utf8');
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { HOME: '/nowhere' } });
    expect(out).to.equal("[printf][%s][two words][it's][$HOME][`x`][][a\nb][*]".replace('[printf][%s]', ''));
  });

  it('leaves plain words unquoted', () => {
    expect(shellQuote('uname')).to.equal('uname');
    expect(shellQuote('-a')).to.equal('-a');
    expect(shellQuote('a b')).to.equal("'a b'");
  });

  it('puts the console on the 16550 and resets through the i8042', () => {
    expect(DEFAULT_BOOT_ARGS).to.include('console=ttyS0');
    expect(DEFAULT_BOOT_ARGS).to.include('reboot=k');
  });

  it('puts the console on hvc0 for the virtio console and on ttyS0 for the UART, nothing else changed', () => {
    expect(defaultBootArgs('virtio')).to.equal(DEFAULT_BOOT_ARGS.replace('console=ttyS0', 'console=hvc0'));
    expect(defaultBootArgs('serial')).to.equal(DEFAULT_BOOT_ARGS);
  });
});
