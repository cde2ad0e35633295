import { expect } from 'chai';
import { CONSOLE_INPUT_LIMIT, MAX_OUTPUT_PER_CHAIN, VirtioConsole } from '../../../src/devices/virtio/console.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { DeviceId, Reg, Status } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';

describe('virtio-console', () => {
  let restore: () => void;
  let console_: VirtioConsole;
  let driver: MockDriver;
  let output: number[];
  let warnings: string[];

  beforeEach(() => {
    warnings = [];
    restore = captureWarnings(warnings);
    output = [];
    console_ = new VirtioConsole({ output: (b) => output.push(...b) });
    const memory = smallMemory(4 << 20);
    driver = new MockDriver(new MmioTransport(console_, memory, { interrupt: () => undefined }), memory);
    expect(driver.init({ queueCount: 2 }) & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
  });
  afterEach(() => restore());

  it('is a console device with two queues and no features of its own', () => {
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(DeviceId.CONSOLE);
    expect(driver.deviceFeatures() & 0xff_ffffn).to.equal(0n);
    expect(driver.queues.length).to.equal(2);
  });

  it('writes what the guest transmits, in order, and returns the buffers', () => {
    const first = driver.addChain(1, [{ length: 3 }, { length: 2 }]);
    driver.memory.write(first.addresses[0]!, Buffer.from('hel'));
    driver.memory.write(first.addresses[1]!, Buffer.from('lo'));
    const second = driver.addChain(1, [{ length: 1 }]);
    driver.memory.write(second.addresses[0]!, Buffer.from('\n'));
    driver.notify(1);
    expect(Buffer.from(output).toString()).to.equal('hello\n');
    expect(driver.takeUsed(1)).to.deep.equal([
      { id: first.head, length: 0 },
      { id: second.head, length: 0 },
    ]);
  });

  it('caps what one chain may send', () => {
    driver.addChain(1, [{ length: MAX_OUTPUT_PER_CHAIN + 100 }]);
    driver.notify(1);
    expect(output.length).to.equal(MAX_OUTPUT_PER_CHAIN);
    expect(warnings.join('\n')).to.match(/holds more than/);
  });

  it('holds input until the guest posts receive buffers, then fills them across chains', () => {
    console_.receive(Buffer.from('abcdef'));
    const a = driver.addChain(0, [{ length: 4, write: true }]);
    const b = driver.addChain(0, [{ length: 4, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([
      { id: a.head, length: 4 },
      { id: b.head, length: 2 },
    ]);
    expect(Buffer.from(driver.memory.read(a.addresses[0]!, 4)).toString()).to.equal('abcd');
    expect(Buffer.from(driver.memory.read(b.addresses[0]!, 2)).toString()).to.equal('ef');
  });

  it('asks to be notified of new receive buffers when input is waiting for them', () => {
    const a = driver.addChain(0, [{ length: 2, write: true }]);
    driver.notify(0);
    console_.receive(Buffer.from('abcd'));
    expect(driver.takeUsed(0)).to.deep.equal([{ id: a.head, length: 2 }]);
    // Out of buffers with input left: avail_event now names the next buffer the driver adds.
    expect(driver.availEvent(0)).to.equal(1);
  });

  it('delivers input at once into buffers already posted', () => {
    const a = driver.addChain(0, [{ length: 16, write: true }]);
    driver.notify(0);
    expect(driver.takeUsed(0)).to.deep.equal([]);
    console_.receive(Buffer.from('ls\r'));
    expect(driver.takeUsed(0)).to.deep.equal([{ id: a.head, length: 3 }]);
  });

  it('drops input beyond its limit and counts it', () => {
    console_.receive(new Uint8Array(CONSOLE_INPUT_LIMIT + 5));
    expect(console_.droppedInput).to.equal(5);
  });

  it('skips a malformed chain and goes on', () => {
    const q = driver.queues[1]!;
    driver.writeDescriptor(q.desc, 7, { address: 1 << 30, length: 16, flags: 0, next: 0 });
    driver.publish(1, 7);
    const good = driver.addChain(1, [{ length: 2 }]);
    driver.memory.write(good.addresses[0]!, Buffer.from('ok'));
    driver.notify(1);
    expect(Buffer.from(output).toString()).to.equal('ok');
    expect(driver.takeUsed(1).map((u) => u.id)).to.deep.equal([7, good.head]);
  });
});
