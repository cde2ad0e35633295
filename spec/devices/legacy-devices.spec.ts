import { expect } from 'chai';
import { GUEST_SIGNAL_BOOT_MAGIC, GUEST_SIGNAL_EXIT_OFFSET, GUEST_SIGNAL_STOP_OFFSET } from '../../src/arch/x86_64/layout.js';
import { GuestSignal } from '../../src/devices/legacy/guest-signal.js';
import { I8042 } from '../../src/devices/legacy/i8042.js';

describe('i8042', () => {
  const at = (dev: I8042, offset: number) => {
    const d = new Uint8Array(1);
    dev.read(offset, d);
    return d[0]!;
  };

  it('resets the machine on command 0xfe and on nothing else', () => {
    let resets = 0;
    const dev = new I8042(() => resets++);
    for (let cmd = 0; cmd < 0x100; cmd++) if (cmd !== 0xfe) dev.write(4, Uint8Array.of(cmd));
    expect(resets).to.equal(0);
    dev.write(4, Uint8Array.of(0xfe));
    expect(resets).to.equal(1);
  });

  it('answers the self-test and config-byte commands Linux probes with', () => {
    const dev = new I8042(() => undefined);
    dev.write(4, Uint8Array.of(0xaa));
    expect(at(dev, 4) & 1).to.equal(1);
    expect(at(dev, 0)).to.equal(0x55);
    expect(at(dev, 4) & 1).to.equal(0);
    dev.write(4, Uint8Array.of(0x60));
    dev.write(0, Uint8Array.of(0x21));
    dev.write(4, Uint8Array.of(0x20));
    expect(at(dev, 0)).to.equal(0x21);
  });
});

describe('guest-signal device', () => {
  function device() {
    const events: string[] = [];
    const dev = new GuestSignal({
      bootComplete: () => events.push('boot'),
      powerOff: (status) => events.push(`off ${status}`),
    });
    return { dev, events };
  }

  it('reports boot-complete only for the magic value at offset 0', () => {
    const { dev, events } = device();
    dev.write(0, Uint8Array.of(GUEST_SIGNAL_BOOT_MAGIC - 1));
    dev.write(1, Uint8Array.of(GUEST_SIGNAL_BOOT_MAGIC));
    expect(events).to.deep.equal([]);
    expect(dev.ignoredWrites).to.equal(2);
    dev.write(0, Uint8Array.of(GUEST_SIGNAL_BOOT_MAGIC));
    expect(events).to.deep.equal(['boot']);
  });

  it('powers off with the low byte of the written status, whatever the width', () => {
    const { dev, events } = device();
    dev.write(GUEST_SIGNAL_EXIT_OFFSET, Uint8Array.of(3, 0, 0, 0));
    dev.write(GUEST_SIGNAL_EXIT_OFFSET, Uint8Array.of(0x2c, 0x01));
    dev.write(GUEST_SIGNAL_EXIT_OFFSET, new Uint8Array(0));
    expect(events).to.deep.equal(['off 3', 'off 44']);
    expect(dev.ignoredWrites).to.equal(1);
  });

  it('reads as zero', () => {
    const { dev } = device();
    const data = Uint8Array.of(1, 2, 3, 4);
    dev.read(0, data);
    expect([...data]).to.deep.equal([0, 0, 0, 0]);
  });

  it('reads 1 in the stop register once a stop was requested, and only there', () => {
    const { dev, events } = device();
    const read = (offset: number, width = 4) => {
      const data = new Uint8Array(width).fill(0xff);
      dev.read(offset, data);
      return [...data];
    };
    expect(read(GUEST_SIGNAL_STOP_OFFSET)).to.deep.equal([0, 0, 0, 0]);
    dev.requestStop();
    expect(read(GUEST_SIGNAL_STOP_OFFSET)).to.deep.equal([1, 0, 0, 0]);
    expect(read(GUEST_SIGNAL_STOP_OFFSET, 1)).to.deep.equal([1]);
    expect(read(0)).to.deep.equal([0, 0, 0, 0]);
    expect(read(GUEST_SIGNAL_EXIT_OFFSET)).to.deep.equal([0, 0, 0, 0]);
    // Writing the stop register does nothing (the guest cannot clear or fake it).
    dev.write(GUEST_SIGNAL_STOP_OFFSET, Uint8Array.of(0, 0, 0, 0));
    expect(read(GUEST_SIGNAL_STOP_OFFSET)).to.deep.equal([1, 0, 0, 0]);
    expect(events).to.deep.equal([]);
  });
});
