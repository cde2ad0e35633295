import { expect } from 'chai';
import { Bus, BusOverlapError, type BusDevice } from '../../src/bus/bus.js';

class Recorder implements BusDevice {
  log: string[] = [];
  read(offset: number, data: Uint8Array): void {
    this.log.push(`r${offset}/${data.length}`);
    data.fill(0x11);
  }
  write(offset: number, data: Uint8Array): void {
    this.log.push(`w${offset}=${[...data].join(',')}`);
  }
}

describe('Bus', () => {
  it('hands devices offsets relative to their base', () => {
    const bus = new Bus('pio');
    const dev = new Recorder();
    bus.register('dev', 0x3f8, 8, dev);
    bus.write(0x3fd, Uint8Array.of(7));
    const data = new Uint8Array(2);
    bus.read(0x3f8, data);
    expect(dev.log).to.deep.equal(['w5=7', 'r0/2']);
    expect([...data]).to.deep.equal([0x11, 0x11]);
  });

  it('refuses overlapping ranges, at either end', () => {
    const bus = new Bus('mmio');
    bus.register('a', 0x1000, 0x1000, new Recorder());
    expect(() => bus.register('b', 0x1fff, 2, new Recorder())).to.throw(BusOverlapError, /overlaps a/);
    expect(() => bus.register('c', 0xfff, 2, new Recorder())).to.throw(BusOverlapError);
    expect(() => bus.register('d', 0x800, 0x2000, new Recorder())).to.throw(BusOverlapError);
    bus.register('e', 0x2000, 0x1000, new Recorder());
  });

  it('refuses empty, negative and fractional ranges', () => {
    const bus = new Bus('pio');
    expect(() => bus.register('z', 0, 0, new Recorder())).to.throw(RangeError);
    expect(() => bus.register('n', -1, 4, new Recorder())).to.throw(RangeError);
    expect(() => bus.register('f', 1.5, 4, new Recorder())).to.throw(RangeError);
  });

  it('answers unclaimed port reads with all ones and MMIO reads with zeros, and counts them', () => {
    const pio = new Bus('pio');
    const mmio = new Bus('mmio');
    const a = new Uint8Array(4);
    const b = Uint8Array.of(9, 9);
    pio.read(0x80, a);
    mmio.read(0xd000_0000, b);
    pio.write(0x80, Uint8Array.of(1));
    expect([...a]).to.deep.equal([0xff, 0xff, 0xff, 0xff]);
    expect([...b]).to.deep.equal([0, 0]);
    expect(pio.unclaimed).to.deep.equal({ reads: 1, writes: 1 });
    expect(mmio.unclaimed).to.deep.equal({ reads: 1, writes: 0 });
  });

  it('does not let an access straddle the end of a device', () => {
    const bus = new Bus('pio');
    const dev = new Recorder();
    bus.register('dev', 0x60, 5, dev);
    bus.write(0x63, Uint8Array.of(1, 2, 3, 4));
    expect(dev.log).to.deep.equal([]);
    expect(bus.unclaimed.writes).to.equal(1);
  });
});
