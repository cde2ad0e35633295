import { expect } from 'chai';
import { VirtioRng, MAX_BYTES_PER_REQUEST } from '../../../src/devices/virtio/rng.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { DeviceId, Reg, Status } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';

describe('virtio-rng', () => {
  let restore: () => void;
  let rng: VirtioRng;
  let driver: MockDriver;
  let interrupts: number;

  beforeEach(() => {
    restore = captureWarnings([]);
    rng = new VirtioRng();
    interrupts = 0;
    const memory = smallMemory(4 << 20);
    driver = new MockDriver(new MmioTransport(rng, memory, { interrupt: () => interrupts++ }), memory);
    expect(driver.init() & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
  });
  afterEach(() => restore());

  it("is an entropy device with no features beyond the transport's", () => {
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(DeviceId.ENTROPY);
    expect(driver.deviceFeatures() & 0xff_ffffn).to.equal(0n);
  });

  it('fills writable buffers with random bytes and reports the length', () => {
    const { head, addresses } = driver.addChain(0, [
      { length: 64, write: true },
      { length: 4096, write: true },
    ]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([{ id: head, length: 64 + 4096 }]);
    const bytes = driver.memory.read(addresses[1]!, 4096);
    // 4096 random bytes are all zero with probability 2^-32768.
    expect(bytes.some((b) => b !== 0)).to.equal(true);
    expect(new Set(bytes).size).to.be.greaterThan(200);
    expect(interrupts).to.equal(1);
    expect(rng.bytesServed).to.equal(4160);
  });

  it('serves at most MAX_BYTES_PER_REQUEST per chain', () => {
    const { head } = driver.addChain(0, [{ length: 3 << 20, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([{ id: head, length: MAX_BYTES_PER_REQUEST }]);
  });

  it('returns a malformed chain with length 0 (but never a head that is no descriptor index) and goes on', () => {
    driver.publish(0, 300);
    const q = driver.queues[0]!;
    driver.writeDescriptor(q.desc, 7, { address: 1 << 30, length: 16, flags: 2, next: 0 });
    driver.publish(0, 7);
    const { head } = driver.addChain(0, [{ length: 16, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([
      { id: 7, length: 0 },
      { id: head, length: 16 },
    ]);
  });
});
