import { expect } from 'chai';
import { VirtioNet, NET_HDR_SIZE, NET_F_MAC } from '../../../src/devices/virtio/net.js';
import { FakeWire } from './fake-wire.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { DeviceId, Reg, Status, featureBit } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';

const MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x42]);
const frame = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('virtio-net', () => {
  let restore: () => void;
  let wire: FakeWire;
  let net: VirtioNet;
  let driver: MockDriver;

  beforeEach(() => {
    restore = captureWarnings([]);
    wire = new FakeWire();
    net = new VirtioNet(wire, MAC);
    const memory = smallMemory();
    driver = new MockDriver(new MmioTransport(net, memory, { interrupt: () => {} }), memory);
    expect(driver.init({ queueCount: 2 }) & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
  });
  afterEach(() => restore());

  it('is a network device offering its MAC address in config space', () => {
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(DeviceId.NET);
    expect(driver.deviceFeatures() & featureBit(NET_F_MAC)).to.not.equal(0n);
    expect([...driver.readConfig(0, 6)]).to.deep.equal([...MAC]);
  });

  it('transmits a frame without its virtio header', () => {
    const packet = new Uint8Array(NET_HDR_SIZE + 60);
    packet.set(frame(60, 0xab), NET_HDR_SIZE);
    const { head } = driver.addChain(1, [
      { length: NET_HDR_SIZE, data: packet.subarray(0, NET_HDR_SIZE) },
      { length: 60, data: packet.subarray(NET_HDR_SIZE) },
    ]);
    driver.notify(1);
    expect(wire.sent.map((f) => [...f])).to.deep.equal([[...frame(60, 0xab)]]);
    expect(driver.takeUsed(1)).to.deep.equal([{ id: head, length: 0 }]);
    expect(net.stats.txFrames).to.equal(1);
    expect(net.stats.txBytes).to.equal(60);
  });

  it('drops a transmit chain too short to hold a frame, and goes on', () => {
    driver.addChain(1, [{ length: 8 }]);
    driver.notify(1);
    expect(wire.sent).to.deep.equal([]);
    expect(net.stats.txDropped).to.equal(1);
    expect(net.stats.txBytes).to.equal(0);
    expect(driver.takeUsed(1)).to.have.length(1);
  });

  it('delivers a received frame with a header saying one buffer, after the guest posts buffers', () => {
    wire.receive!(frame(64, 0x11));
    expect(driver.takeUsed(0)).to.deep.equal([]);
    const { head, addresses } = driver.addChain(0, [{ length: 1526, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([{ id: head, length: NET_HDR_SIZE + 64 }]);
    const got = driver.memory.read(addresses[0]!, NET_HDR_SIZE + 64);
    expect(new DataView(got.buffer).getUint16(10, true)).to.equal(1);
    expect([...got.subarray(0, 10)]).to.deep.equal(new Array(10).fill(0));
    expect([...got.subarray(NET_HDR_SIZE)]).to.deep.equal([...frame(64, 0x11)]);
  });

  it('drops a frame that does not fit the posted buffer, and delivers the next', () => {
    driver.addChain(0, [{ length: 40, write: true }]);
    const { head } = driver.addChain(0, [{ length: 1526, write: true }]);
    driver.notify(0);
    wire.receive!(frame(100, 1));
    wire.receive!(frame(20, 2));
    const used = driver.takeUsed(0);
    expect(used[0]!.length).to.equal(0);
    expect(used[1]).to.deep.equal({ id: head, length: NET_HDR_SIZE + 20 });
    expect(net.stats.rxDropped).to.equal(1);
    // Only the delivered frame's bytes count.
    expect(net.stats).to.include({ rxFrames: 1, rxBytes: 20 });
  });

  it('forgets waiting frames on reset', () => {
    wire.receive!(frame(64, 3));
    driver.writeReg(Reg.STATUS, 0);
    driver.init({ queueCount: 2 });
    driver.addChain(0, [{ length: 1526, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([]);
  });
});
