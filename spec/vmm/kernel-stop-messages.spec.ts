// The guest kernel's console lines that say how it stopped (src/vmm/kernel-stop-messages.ts).
import { expect } from 'chai';
import { PowerDownWatcher, showsKernelHalt, showsKernelPanic } from '../../src/vmm/kernel-stop-messages.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('kernel stop messages', () => {
  it('sees "reboot: Power down" with or without the printk time stamp, also split across writes, once', () => {
    let seen = 0;
    const w = new PowerDownWatcher(() => seen++);
    w.push(bytes('[    3.141592] sysrq: Power Off\r\n[    3.2] reb'));
    expect(seen).to.equal(0);
    w.push(bytes('oot: Power down\r\n'));
    expect(seen).to.equal(1);
    w.push(bytes('reboot: Power down\n'));
    expect(seen).to.equal(1);
    const bare = new PowerDownWatcher(() => seen++);
    bare.push(bytes('reboot: Power down\n'));
    expect(seen).to.equal(2);
  });

  it('ignores the words elsewhere: typed at a prompt, echoed by cat, inside a longer line, or not yet ended', () => {
    let seen = 0;
    const w = new PowerDownWatcher(() => seen++);
    w.push(bytes('root@mvm:~# echo reboot: Power down\r\n'));
    w.push(bytes('Power down\n'));
    w.push(bytes('reboot: Power down now\n'));
    w.push(bytes('reboot: Power down'));
    expect(seen).to.equal(0);
  });

  it('keeps a bounded partial line: endless output without a newline costs no memory', () => {
    let seen = 0;
    const w = new PowerDownWatcher(() => seen++);
    for (let i = 0; i < 1000; i++) w.push(new Uint8Array(4096).fill(0x41));
    w.push(bytes('\nreboot: Power down\n'));
    expect(seen).to.equal(1);
  });

  it('tells a kernel halt and a panic from their lines', () => {
    expect(showsKernelHalt(['hi', '[    2.000000] reboot: System halted'])).to.equal(true);
    expect(showsKernelHalt(['reboot: System halted'])).to.equal(true);
    expect(showsKernelHalt(['echo reboot: System halted later'])).to.equal(false);
    expect(showsKernelPanic(['[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000'])).to.equal(true);
    expect(showsKernelPanic(['all fine'])).to.equal(false);
  });
});
