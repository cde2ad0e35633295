import { expect } from 'chai';
import { MmioTransport } from '../../src/virtio/mmio-transport.js';
import { DescFlag, walkChain, ChainError, splitAtRegions } from '../../src/virtio/chain.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import type { Virtqueue } from '../../src/virtio/queue.js';
import { MockDriver } from '../helpers/mock-driver.js';
import { RecordingDevice, captureWarnings, smallMemory } from './fixtures.js';

const V1 = featureBit(Feature.VERSION_1);
const INDIRECT = featureBit(Feature.RING_INDIRECT_DESC);
const EVENT_IDX = featureBit(Feature.RING_EVENT_IDX);

describe('split virtqueue and descriptor chains', () => {
  let restore: () => void;
  let device: RecordingDevice;
  let driver: MockDriver;
  let interrupts: number;
  let queue: Virtqueue;

  function start(features = V1 | INDIRECT | EVENT_IDX): void {
    device = new RecordingDevice();
    interrupts = 0;
    const memory = smallMemory();
    const transport = new MmioTransport(device, memory, { interrupt: () => interrupts++ });
    driver = new MockDriver(transport, memory);
    driver.init({ features });
    queue = device.context!.queues[0]!;
  }

  function popError(): string {
    const r = queue.pop();
    expect(r?.kind).to.equal('bad-chain');
    return r!.kind === 'bad-chain' ? r!.error.reason : '';
  }

  beforeEach(() => {
    restore = captureWarnings([]);
    start();
  });
  afterEach(() => restore());

  it('returns nothing when the driver has published nothing', () => {
    expect(queue.pop()).to.equal(undefined);
  });

  it('walks a direct chain into readable then writable segments', () => {
    const { head, addresses } = driver.addChain(0, [{ length: 16 }, { length: 100 }, { length: 1, write: true }]);
    const r = queue.pop();
    expect(r?.kind).to.equal('chain');
    if (r?.kind !== 'chain') return;
    expect(r.chain.head).to.equal(head);
    expect(r.chain.readable).to.deep.equal([
      { address: addresses[0], length: 16 },
      { address: addresses[1], length: 100 },
    ]);
    expect(r.chain.writable).to.deep.equal([{ address: addresses[2], length: 1 }]);
    expect(r.chain.readableLength).to.equal(116);
    expect(r.chain.writableLength).to.equal(1);
  });

  it('walks an indirect chain', () => {
    const { addresses } = driver.addChain(0, [{ length: 8 }, { length: 32, write: true }], { indirect: true });
    const r = queue.pop();
    expect(r?.kind).to.equal('chain');
    if (r?.kind !== 'chain') return;
    expect(r.chain.readable).to.deep.equal([{ address: addresses[0], length: 8 }]);
    expect(r.chain.writable).to.deep.equal([{ address: addresses[1], length: 32 }]);
  });

  it('refuses a head index not below the queue size', () => {
    driver.publish(0, 16);
    expect(popError()).to.match(/head index 16/);
  });

  it('refuses a next index not below the queue size', () => {
    const q = driver.queues[0]!;
    driver.writeDescriptor(q.desc, 0, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 99 });
    driver.publish(0, 0);
    expect(popError()).to.match(/next index 99/);
  });

  it('ends a descriptor loop with the chain length bound', () => {
    const q = driver.queues[0]!;
    driver.writeDescriptor(q.desc, 0, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 1 });
    driver.writeDescriptor(q.desc, 1, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 0 });
    driver.publish(0, 0);
    expect(popError()).to.match(/longer than its table's 16 descriptors/);
  });

  it('accepts an indirect table as long as the queue (Linux: seg_max + 2 entries), refuses one beyond 32768 entries', () => {
    const buffers = Array.from({ length: 16 }, (_, i) => ({ length: 512, write: i === 15 }));
    driver.addChain(0, buffers, { indirect: true });
    expect(queue.pop()?.kind).to.equal('chain');
    const q = driver.queues[0]!;
    driver.writeDescriptor(q.desc, 5, { address: 0, length: 32769 * 16, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 5);
    expect(popError()).to.match(/more than 32768/);
  });

  it('refuses a buffer outside guest memory, or straddling its end', () => {
    const q = driver.queues[0]!;
    driver.writeDescriptor(q.desc, 0, { address: 0x10_0000, length: 1, flags: 0, next: 0 });
    driver.publish(0, 0);
    expect(popError()).to.match(/outside guest memory/);
    driver.writeDescriptor(q.desc, 1, { address: 0xf_fff0, length: 0x20, flags: 0, next: 0 });
    driver.publish(0, 1);
    expect(popError()).to.match(/outside guest memory/);
    driver.writeDescriptor(q.desc, 2, { address: 2 ** 60, length: 1, flags: 0, next: 0 });
    driver.publish(0, 2);
    expect(popError()).to.match(/2\^53/);
  });

  it('refuses a chain of 4 GiB or more in total', () => {
    // 4097 descriptors of 1 MiB each, all pointing at the same (valid) RAM.
    const memory = smallMemory(2 << 20);
    const count = 4097;
    const table = 1 << 20;
    for (let i = 0; i < count; i++) {
      memory.writeU64(table + i * 16, 0n);
      memory.writeU32(table + i * 16 + 8, 1 << 20);
      memory.writeU16(table + i * 16 + 12, i + 1 < count ? DescFlag.NEXT : 0);
      memory.writeU16(table + i * 16 + 14, i + 1);
    }
    const result = walkChain({ memory, descTable: table, queueSize: 8192, indirectAllowed: false }, 0);
    expect(result).to.be.instanceOf(ChainError);
    expect((result as ChainError).reason).to.match(/4 GiB/);
  });

  it('refuses a device-readable buffer after a device-writable one', () => {
    driver.addChain(0, [{ length: 4, write: true }, { length: 4 }]);
    expect(popError()).to.match(/readable buffer after a device-writable/);
  });

  it('refuses indirect descriptors when the feature was not negotiated', () => {
    start(V1);
    driver.addChain(0, [{ length: 4 }], { indirect: true });
    expect(popError()).to.match(/without the negotiated/);
  });

  it('refuses an indirect descriptor with NEXT, a nested one, or a bad table length', () => {
    const q = driver.queues[0]!;
    const table = driver.alloc(64);
    driver.writeDescriptor(q.desc, 0, { address: table, length: 16, flags: DescFlag.INDIRECT | DescFlag.NEXT, next: 1 });
    driver.publish(0, 0);
    expect(popError()).to.match(/also has the NEXT flag/);
    driver.writeDescriptor(table, 0, { address: table, length: 16, flags: DescFlag.INDIRECT, next: 0 });
    driver.writeDescriptor(q.desc, 1, { address: table, length: 16, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 1);
    expect(popError()).to.match(/inside an indirect table/);
    driver.writeDescriptor(q.desc, 2, { address: table, length: 24, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 2);
    expect(popError()).to.match(/multiple of 16/);
    driver.writeDescriptor(q.desc, 3, { address: 0xf_fff0, length: 32, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 3);
    expect(popError()).to.match(/outside guest memory/);
  });

  it('bounds an indirect table loop and an indirect next index', () => {
    const q = driver.queues[0]!;
    const table = driver.alloc(32);
    driver.writeDescriptor(table, 0, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 1 });
    driver.writeDescriptor(table, 1, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 0 });
    driver.writeDescriptor(q.desc, 0, { address: table, length: 32, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 0);
    expect(popError()).to.match(/longer than its table's 2 descriptors/);
    driver.writeDescriptor(table, 1, { address: 0x8000, length: 4, flags: DescFlag.NEXT, next: 2 });
    driver.writeDescriptor(q.desc, 1, { address: table, length: 32, flags: DescFlag.INDIRECT, next: 0 });
    driver.publish(0, 1);
    expect(popError()).to.match(/next index 2 is not below the table size 2/);
  });

  it('reports a broken ring when the available index jumps past the queue size', () => {
    const q = driver.queues[0]!;
    driver.memory.writeU16(q.avail + 2, 17);
    expect(queue.pop()?.kind).to.equal('broken');
  });

  it('wraps the free-running indexes at 2^16', () => {
    for (let i = 0; i < 70_000; i++) {
      driver.addChain(0, [{ address: 0x8000, length: 4, write: true }]);
      const r = queue.pop();
      if (r?.kind !== 'chain') expect.fail(`iteration ${i}: ${r?.kind}`);
      queue.pushUsed(r.chain.head, 4);
      if (driver.takeUsed(0).length !== 1) expect.fail(`iteration ${i}: no used entry`);
    }
  });

  it('without EVENT_IDX, interrupts unless the driver set NO_INTERRUPT', () => {
    start(V1);
    const q = driver.queues[0]!;
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt()).to.equal(true);
    expect(queue.needsInterrupt()).to.equal(false);
    driver.memory.writeU16(q.avail, 1);
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt()).to.equal(false);
  });

  it('with EVENT_IDX, interrupts only when used_event is crossed, and publishes avail_event', () => {
    driver.setUsedEvent(0, 2);
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt(), 'used 0→1, event 2').to.equal(false);
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt(), 'used 1→2, event 2').to.equal(false);
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt(), 'used 2→3 crosses event 2').to.equal(true);
    driver.setUsedEvent(0, 3);
    queue.pushUsed(0, 0);
    queue.pushUsed(0, 0);
    expect(queue.needsInterrupt(), 'used 3→5 crosses event 3').to.equal(true);
    driver.addChain(0, [{ length: 4 }]);
    driver.addChain(0, [{ length: 4 }]);
    queue.pop();
    expect(queue.armNotification(), 'one more is pending').to.equal(true);
    expect(driver.availEvent(0)).to.equal(1);
    queue.pop();
    expect(queue.armNotification()).to.equal(false);
    expect(driver.availEvent(0)).to.equal(2);
  });

  it('splits a buffer that spans two adjacent RAM regions, and refuses one that spans a hole', () => {
    const memory = new GuestMemory([
      { guestAddress: 0, bytes: new Uint8Array(0x1000) },
      { guestAddress: 0x1000, bytes: new Uint8Array(0x1000) },
      { guestAddress: 0x3000, bytes: new Uint8Array(0x1000) },
    ]);
    expect(splitAtRegions(memory, 0xff0, 0x20)).to.deep.equal([
      { address: 0xff0, length: 0x10 },
      { address: 0x1000, length: 0x10 },
    ]);
    expect(splitAtRegions(memory, 0x1ff0, 0x20)).to.equal(undefined);
    memory.writeU64(0, 0xff0n);
    memory.writeU32(8, 0x20);
    const chain = walkChain({ memory, descTable: 0, queueSize: 4, indirectAllowed: false }, 0);
    expect(chain).to.not.be.instanceOf(ChainError);
  });
});
