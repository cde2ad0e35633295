// A virtio-mmio transport saved mid-work and restored into a fresh one over a
// copy of guest memory picks up exactly where it was; saved state that does
// not fit the device or the memory is refused with a line naming the field.
import { expect } from 'chai';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { Reg, Status } from '../../src/virtio/constants.js';
import { MmioTransport } from '../../src/virtio/mmio-transport.js';
import { SavedStateError, parseTransportState, type TransportState } from '../../src/virtio/saved-state.js';
import { MockDriver } from '../helpers/mock-driver.js';
import { MEMORY_SIZE, RecordingDevice, captureWarnings, smallMemory } from './fixtures.js';

interface Running {
  memory: GuestMemory;
  device: RecordingDevice;
  transport: MmioTransport;
  driver: MockDriver;
  heads: number[];
}

/** A driven device: three chains made available on queue 0, two of them taken and completed. */
function runningDevice(): Running {
  const memory = smallMemory();
  const device = new RecordingDevice();
  const transport = new MmioTransport(device, memory, { interrupt: () => undefined });
  const driver = new MockDriver(transport, memory);
  expect(driver.init({ queueCount: 2, queueSize: 8 }) & Status.DRIVER_OK).to.not.equal(0);
  const heads = [0, 1, 2].map(() => driver.addChain(0, [{ length: 16, write: true }]).head);
  const queue = device.context!.queues[0]!;
  for (let i = 0; i < 2; i++) {
    const popped = queue.pop();
    if (popped?.kind !== 'chain') throw new Error('expected a chain');
    queue.pushUsed(popped.chain.head, 16);
  }
  return { memory, device, transport, driver, heads };
}

/** The state as it goes through a snapshot file: JSON, then parsed back. */
function throughFile(state: TransportState): TransportState {
  return parseTransportState(JSON.parse(JSON.stringify(state)), 'virtio slot 0');
}

function restoreInto(state: TransportState, source: GuestMemory): { device: RecordingDevice; transport: MmioTransport; memory: GuestMemory } {
  const memory = smallMemory();
  memory.write(0, source.slice(0, MEMORY_SIZE));
  const device = new RecordingDevice();
  const transport = new MmioTransport(device, memory, { interrupt: () => undefined });
  transport.restoreState(state);
  return { device, transport, memory };
}

function refusal(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    expect(err).to.be.instanceOf(SavedStateError);
    return (err as Error).message;
  }
  throw new Error('expected a SavedStateError');
}

describe('virtio-mmio transport state for snapshots', () => {
  let restoreWarnings: () => void;
  beforeEach(() => {
    restoreWarnings = captureWarnings([]);
  });
  afterEach(() => restoreWarnings());

  it('restores registers and queue positions: the next chain taken is the one after the last completed', () => {
    const a = runningDevice();
    const saved = throughFile(a.transport.saveState());
    expect(saved.queues[0]).to.include({ nextAvail: 2, nextUsed: 2, ready: true });
    const b = restoreInto(saved, a.memory);
    expect(b.device.context, 'the device was restarted').to.not.equal(undefined);
    expect(b.transport.deviceStatus).to.equal(a.transport.deviceStatus);
    expect(b.transport.negotiatedFeatures).to.equal(a.transport.negotiatedFeatures);
    const next = b.device.context!.queues[0]!.pop();
    expect(next?.kind).to.equal('chain');
    expect(next?.kind === 'chain' && next.chain.head).to.equal(a.heads[2]);
    expect(b.device.context!.queues[0]!.pop()).to.equal(undefined);
    // The driver's view through the registers is the same.
    const driver = new MockDriver(b.transport, b.memory);
    expect(driver.readReg(Reg.STATUS)).to.equal(a.driver.readReg(Reg.STATUS));
    driver.writeReg(Reg.QUEUE_SEL, 0);
    expect(driver.readReg(Reg.QUEUE_READY)).to.equal(1);
  });

  it('restores a device the driver never started as one that waits for its driver', () => {
    const memory = smallMemory();
    const fresh = new MmioTransport(new RecordingDevice(), memory, { interrupt: () => undefined });
    const b = restoreInto(throughFile(fresh.saveState()), memory);
    expect(b.device.context).to.equal(undefined);
    expect(b.transport.deviceStatus).to.equal(0);
  });

  it('refuses saved state that does not fit the device or the restored memory, naming what is wrong', () => {
    const a = runningDevice();
    const good = throughFile(a.transport.saveState());
    const withQueue = (change: Record<string, unknown>): TransportState => ({
      ...good,
      queues: [{ ...good.queues[0]!, ...change }, good.queues[1]!],
    });
    const cases: [TransportState, RegExp][] = [
      [{ ...good, deviceType: 3 }, /device type 3/],
      [{ ...good, queues: [good.queues[0]!] }, /1 queues, the device 2/],
      [{ ...good, driverFeatures: 'ffff00000000' }, /never offered/],
      [{ ...good, active: false }, /active=false/],
      [withQueue({ nextUsed: 5 }), /used ring's index is 2 in memory, the device's 5/],
      [withQueue({ nextAvail: 60000 }), /chains pending, more than the queue size/],
      [withQueue({ descTable: MEMORY_SIZE - 16 }), /descriptor table .* outside guest memory/],
      [withQueue({ usedRing: 0x1003 }), /used ring .* not 4-byte aligned/],
      [withQueue({ size: 12 }), /queue size 12 is not a power of two/],
      [withQueue({ size: 32 }), /size 32 is larger than 16/],
    ];
    for (const [state, message] of cases) expect(refusal(() => restoreInto(state, a.memory))).to.match(message);
  });

  it('refuses a malformed record before anything is restored', () => {
    const good = JSON.parse(JSON.stringify(runningDevice().transport.saveState())) as Record<string, unknown>;
    const queue0 = (good['queues'] as Record<string, unknown>[])[0]!;
    const cases: [unknown, RegExp][] = [
      [null, /is not an object/],
      [{ ...good, status: 256 }, /status is 256/],
      [{ ...good, status: '15' }, /status is "15"/],
      [{ ...good, driverFeatures: '0x1' }, /not a 64-bit hex number/],
      [{ ...good, interruptStatus: 4 }, /interrupt status is 4/],
      [{ ...good, queues: 'none' }, /queues are not a list/],
      [{ ...good, queues: [{ ...queue0, nextAvail: 65536 }] }, /queue 0 next available index is 65536/],
      [{ ...good, queues: [{ ...queue0, ready: 1 }] }, /queue 0 ready is 1/],
      [{ ...good, queues: [{ ...queue0, descTable: -16 }] }, /descriptor table address is -16/],
    ];
    for (const [value, message] of cases) expect(refusal(() => parseTransportState(value, 'virtio slot 0'))).to.match(message);
  });
});
