import { expect } from 'chai';
import { BootError } from '../../src/arch/x86_64/boot-error.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START } from '../../src/arch/x86_64/layout.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { KernelCmdline, writeCmdline } from '../../src/loader/cmdline.js';

describe('loader/cmdline', () => {
  it('joins flags and key=value parameters with single spaces', () => {
    const line = new KernelCmdline().set('console', 'ttyS0').flag('nomodule').set('panic', 1).set('reboot', 'k');
    expect(line.toString()).to.equal('console=ttyS0 nomodule panic=1 reboot=k');
  });

  it('quotes a value with spaces (or an empty value) the way lib/cmdline.c parses it', () => {
    const line = new KernelCmdline().set('mvm.cmd', 'sh -c true').set('empty', '');
    expect(line.toString()).to.equal('mvm.cmd="sh -c true" empty=""');
  });

  it('announces virtio-mmio devices as <size>@<base>:<gsi>', () => {
    const line = new KernelCmdline().addVirtioMmioDevice(0xd0000000, 0x1000, 5).addVirtioMmioDevice(0xd0001000, 0x1000, 6);
    expect(line.toString()).to.equal('virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6');
    expect(new KernelCmdline().addVirtioMmioDevice(0x1000, 100, 7).toString()).to.equal('virtio_mmio.device=100@0x1000:7');
  });

  it('refuses bad virtio-mmio parameters', () => {
    expect(() => new KernelCmdline().addVirtioMmioDevice(-1, 0x1000, 5)).to.throw(BootError, /not an address/);
    expect(() => new KernelCmdline().addVirtioMmioDevice(0x1000, 0, 5)).to.throw(BootError, /not a size/);
    expect(() => new KernelCmdline().addVirtioMmioDevice(0x1000, 0x1000, 1.5)).to.throw(BootError, /not a GSI/);
  });

  it('refuses NUL, newline and other control characters anywhere', () => {
    expect(() => new KernelCmdline().set('a', 'b\0c')).to.throw(BootError, /control character/);
    expect(() => new KernelCmdline().set('a', 'b\nc')).to.throw(BootError, /control character/);
    expect(() => new KernelCmdline().flag('a\tb')).to.throw(BootError, /control character/);
    expect(() => new KernelCmdline().appendRaw('quiet\ninit=/bin/sh')).to.throw(BootError, /control character/);
  });

  it('refuses a double quote in a value and malformed parameter names', () => {
    expect(() => new KernelCmdline().set('a', 'say "hi"')).to.throw(BootError, /double quote/);
    for (const bad of ['', 'a b', 'a=b', 'a"']) {
      expect(() => new KernelCmdline().flag(bad), JSON.stringify(bad)).to.throw(BootError, /not a valid parameter name/);
    }
  });

  it('appends user text as written, refusing unbalanced quotes', () => {
    const line = new KernelCmdline().flag('quiet').appendRaw('  foo="a b" bar  ').appendRaw('   ');
    expect(line.toString()).to.equal('quiet foo="a b" bar');
    expect(() => new KernelCmdline().appendRaw('foo="a b')).to.throw(BootError, /unbalanced/);
  });

  it('accepts exactly CMDLINE_MAX_SIZE - 1 bytes and refuses one more, counting UTF-8 bytes', () => {
    const line = new KernelCmdline().flag('x'.repeat(CMDLINE_MAX_SIZE - 1));
    expect(line.toBytes().length).to.equal(CMDLINE_MAX_SIZE);
    expect(() => new KernelCmdline().flag('x'.repeat(CMDLINE_MAX_SIZE))).to.throw(BootError, /2049 bytes .* limit is 2048/);
    // 'é' is two bytes in UTF-8: 1024 of them plus a NUL is 2049 bytes.
    expect(() => new KernelCmdline().flag('é'.repeat(1024))).to.throw(BootError, /limit/);
  });

  it('keeps the line unchanged when an append is refused', () => {
    const line = new KernelCmdline(16).flag('quiet');
    expect(() => line.flag('much-too-long-flag')).to.throw(BootError);
    expect(line.toString()).to.equal('quiet');
  });

  it('writes the line NUL-terminated at CMDLINE_START and clears stale bytes after it', () => {
    const memory = GuestMemory.fromSizes([{ guestAddress: 0, size: 0x40000 }]);
    memory.fill(CMDLINE_START, CMDLINE_MAX_SIZE, 0x41);
    const placed = writeCmdline(memory, new KernelCmdline().set('console', 'ttyS0'));
    expect(placed).to.deep.equal({ address: CMDLINE_START, length: 13 });
    expect(new TextDecoder().decode(memory.read(CMDLINE_START, 13))).to.equal('console=ttyS0');
    expect(memory.readU8(CMDLINE_START + 13)).to.equal(0);
    expect(
      memory
        .read(CMDLINE_START, CMDLINE_MAX_SIZE)
        .slice(13)
        .every((b) => b === 0),
    ).to.equal(true);
  });
});
