import { expect } from 'chai';
import { MmioTransport } from '../../src/virtio/mmio-transport.js';
import { Feature, Interrupt, MVM_VENDOR_ID, Reg, Status, VIRTIO_MMIO_MAGIC, featureBit } from '../../src/virtio/constants.js';
import { MockDriver } from '../helpers/mock-driver.js';
import { RecordingDevice, captureWarnings, smallMemory } from './fixtures.js';

const BASE_STATUS = Status.ACKNOWLEDGE | Status.DRIVER;
const V1 = featureBit(Feature.VERSION_1);

describe('virtio-mmio transport', () => {
  let warnings: string[];
  let restore: () => void;
  let device: RecordingDevice;
  let transport: MmioTransport;
  let driver: MockDriver;
  let interrupts: number;

  beforeEach(() => {
    warnings = [];
    restore = captureWarnings(warnings);
    device = new RecordingDevice();
    interrupts = 0;
    const memory = smallMemory();
    transport = new MmioTransport(device, memory, { interrupt: () => interrupts++ });
    driver = new MockDriver(transport, memory);
  });
  afterEach(() => restore());

  it('identifies itself: magic, version 2, device and vendor ID', () => {
    expect(driver.readReg(Reg.MAGIC)).to.equal(VIRTIO_MMIO_MAGIC);
    expect(driver.readReg(Reg.VERSION)).to.equal(2);
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(42);
    expect(driver.readReg(Reg.VENDOR_ID)).to.equal(MVM_VENDOR_ID);
  });

  it('offers device features plus VERSION_1, EVENT_IDX and INDIRECT_DESC through the select register', () => {
    driver.writeReg(Reg.DEVICE_FEATURES_SEL, 0);
    expect(driver.readReg(Reg.DEVICE_FEATURES)).to.equal(0b101 | (1 << 28) | (1 << 29));
    driver.writeReg(Reg.DEVICE_FEATURES_SEL, 1);
    expect(driver.readReg(Reg.DEVICE_FEATURES)).to.equal(1);
    driver.writeReg(Reg.DEVICE_FEATURES_SEL, 7);
    expect(driver.readReg(Reg.DEVICE_FEATURES)).to.equal(0);
  });

  it('accepts a subset of the offered features with VERSION_1 and sets FEATURES_OK', () => {
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeDriverFeatures(V1 | 1n);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK);
    expect(driver.readReg(Reg.STATUS)).to.equal(BASE_STATUS | Status.FEATURES_OK);
    expect(transport.negotiatedFeatures).to.equal(V1 | 1n);
  });

  it('refuses FEATURES_OK without VERSION_1 (legacy driver)', () => {
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeDriverFeatures(1n);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK);
    expect(driver.readReg(Reg.STATUS) & Status.FEATURES_OK).to.equal(0);
    expect(warnings.join()).to.match(/VERSION_1/);
  });

  it('refuses FEATURES_OK when the driver accepts features that were not offered', () => {
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeDriverFeatures(V1 | 0b10n);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK);
    expect(driver.readReg(Reg.STATUS) & Status.FEATURES_OK).to.equal(0);
  });

  it('ignores driver features written before DRIVER or after FEATURES_OK', () => {
    driver.writeDriverFeatures(V1);
    expect(transport.negotiatedFeatures).to.equal(0n);
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeDriverFeatures(V1);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK);
    driver.writeDriverFeatures(V1 | 1n);
    expect(transport.negotiatedFeatures).to.equal(V1);
  });

  it('refuses a status write that clears bits, and DRIVER_OK without FEATURES_OK', () => {
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeReg(Reg.STATUS, Status.ACKNOWLEDGE);
    expect(driver.readReg(Reg.STATUS)).to.equal(BASE_STATUS);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.DRIVER_OK);
    expect(driver.readReg(Reg.STATUS) & Status.DRIVER_OK).to.equal(0);
    expect(device.context).to.equal(undefined);
  });

  it('reports queue sizes; a queue that does not exist has size 0', () => {
    driver.writeReg(Reg.QUEUE_SEL, 0);
    expect(driver.readReg(Reg.QUEUE_NUM_MAX)).to.equal(16);
    driver.writeReg(Reg.QUEUE_SEL, 1);
    expect(driver.readReg(Reg.QUEUE_NUM_MAX)).to.equal(8);
    driver.writeReg(Reg.QUEUE_SEL, 2);
    expect(driver.readReg(Reg.QUEUE_NUM_MAX)).to.equal(0);
    driver.writeReg(Reg.QUEUE_NUM, 4);
    expect(warnings.join()).to.match(/does not exist/);
  });

  it('stores queue addresses as low/high halves and reads them back', () => {
    driver.writeReg(Reg.QUEUE_SEL, 1);
    driver.writeReg(Reg.QUEUE_DESC_LOW, 0x1000);
    driver.writeReg(Reg.QUEUE_DESC_HIGH, 1);
    driver.writeReg(Reg.QUEUE_DRIVER_LOW, 0x2000);
    driver.writeReg(Reg.QUEUE_DEVICE_LOW, 0x3000);
    driver.writeReg(Reg.QUEUE_NUM, 4);
    expect(driver.readReg(Reg.QUEUE_DESC_LOW)).to.equal(0x1000);
    expect(driver.readReg(Reg.QUEUE_DESC_HIGH)).to.equal(1);
    expect(driver.readReg(Reg.QUEUE_DRIVER_LOW)).to.equal(0x2000);
    expect(driver.readReg(Reg.QUEUE_DEVICE_LOW)).to.equal(0x3000);
    expect(transport.queues[1]!.descTable).to.equal(0x1_0000_1000);
    expect(transport.queues[1]!.size).to.equal(4);
    driver.writeReg(Reg.QUEUE_READY, 1);
    expect(driver.readReg(Reg.QUEUE_READY)).to.equal(1);
    driver.writeReg(Reg.QUEUE_DESC_LOW, 0x5000);
    expect(transport.queues[1]!.descTable).to.equal(0x1_0000_1000);
  });

  it('activates the device on DRIVER_OK with valid queues, and forwards notifications', () => {
    expect(driver.init({ queueCount: 2 })).to.equal(BASE_STATUS | Status.FEATURES_OK | Status.DRIVER_OK);
    expect(device.context).to.not.equal(undefined);
    driver.notify(1);
    driver.notify(0);
    driver.notify(5);
    expect(device.notified).to.deep.equal([1, 0]);
  });

  it('marks DEVICE_NEEDS_RESET and interrupts when a ready queue lies outside guest memory', () => {
    driver.writeReg(Reg.STATUS, BASE_STATUS);
    driver.writeDriverFeatures(V1);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK);
    driver.writeReg(Reg.QUEUE_SEL, 0);
    driver.writeReg(Reg.QUEUE_DESC_LOW, 0xfff_0000);
    driver.writeReg(Reg.QUEUE_READY, 1);
    driver.writeReg(Reg.STATUS, BASE_STATUS | Status.FEATURES_OK | Status.DRIVER_OK);
    expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET).to.equal(Status.DEVICE_NEEDS_RESET);
    expect(driver.readReg(Reg.INTERRUPT_STATUS) & Interrupt.CONFIG_CHANGE).to.equal(Interrupt.CONFIG_CHANGE);
    expect(interrupts).to.equal(1);
    driver.notify(0);
    expect(device.notified).to.deep.equal([]);
  });

  it('refuses a queue size that is not a power of two or exceeds the maximum', () => {
    for (const size of [3, 32, 0]) {
      driver.init({ queueSize: size });
      expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET, `size ${size}`).to.equal(Status.DEVICE_NEEDS_RESET);
    }
    driver.init({ queueSize: 8 });
    expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET).to.equal(0);
  });

  it('turns an exception inside a device into NEEDS_RESET instead of letting it escape', () => {
    driver.init();
    device.throwOnNotify = true;
    expect(() => driver.notify(0)).to.not.throw();
    expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET).to.equal(Status.DEVICE_NEEDS_RESET);
  });

  it('raises and acknowledges used-buffer interrupts', () => {
    driver.init();
    const ctx = device.context!;
    const q = ctx.queues[0]!;
    driver.addChain(0, [{ length: 4, write: true }]);
    const popped = q.pop();
    expect(popped?.kind).to.equal('chain');
    q.pushUsed(0, 4);
    ctx.usedBuffersAdded(q);
    expect(interrupts).to.equal(1);
    expect(driver.readReg(Reg.INTERRUPT_STATUS)).to.equal(Interrupt.USED_BUFFER);
    driver.writeReg(Reg.INTERRUPT_ACK, Interrupt.USED_BUFFER);
    expect(driver.readReg(Reg.INTERRUPT_STATUS)).to.equal(0);
  });

  it('resets everything on status 0 and tells the device', () => {
    driver.init();
    driver.writeReg(Reg.QUEUE_SEL, 0);
    driver.writeReg(Reg.STATUS, 0);
    expect(driver.readReg(Reg.STATUS)).to.equal(0);
    expect(driver.readReg(Reg.QUEUE_READY)).to.equal(0);
    expect(driver.readReg(Reg.QUEUE_DESC_LOW)).to.equal(0);
    expect(transport.negotiatedFeatures).to.equal(0n);
    expect(device.resets).to.equal(1);
    expect(device.context).to.equal(undefined);
  });

  it('passes config space accesses of any width to the device, bounded by its size', () => {
    expect([...driver.readConfig(2, 4)]).to.deep.equal([3, 4, 5, 6]);
    expect(driver.readReg(Reg.CONFIG + 7, 1)).to.equal(8);
    expect([...driver.readConfig(6, 4)]).to.deep.equal([0, 0, 0, 0]);
    driver.writeReg(Reg.CONFIG + 1, 0xab, 1);
    driver.writeReg(Reg.CONFIG + 6, 0xabcd, 4);
    expect(device.configWrites).to.deep.equal([[1, [0xab]]]);
    expect(driver.readReg(Reg.CONFIG_GENERATION)).to.equal(0);
    transport.configChanged();
    expect(driver.readReg(Reg.CONFIG_GENERATION)).to.equal(1);
    expect(driver.readReg(Reg.INTERRUPT_STATUS)).to.equal(Interrupt.CONFIG_CHANGE);
  });

  it('ignores narrow or misaligned register accesses and write-only reads with a warning', () => {
    expect(driver.readReg(Reg.MAGIC, 2)).to.equal(0);
    driver.writeReg(Reg.STATUS, 1, 1);
    expect(driver.readReg(Reg.STATUS)).to.equal(0);
    expect(driver.readReg(Reg.QUEUE_NOTIFY)).to.equal(0);
    driver.writeReg(Reg.MAGIC, 5);
    expect(driver.readReg(Reg.MAGIC)).to.equal(VIRTIO_MMIO_MAGIC);
    expect(transport.errors.count).to.equal(4);
  });
});
