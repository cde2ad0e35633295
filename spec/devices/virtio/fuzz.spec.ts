// Random descriptor chains, well-formed and hostile, fed to each virtio
// device through the transport. The guest memory is wrapped so that any
// access the VMM attempts outside guest RAM is counted (it would be refused
// anyway); the spec demands zero such attempts, zero exceptions out of the
// transport, and zero internal errors turned into NEEDS_RESET. Seeded, so a
// failure reproduces: FUZZ_SEED=<n> picks another seed.
import { expect } from 'chai';
import { GuestMemory, GuestMemoryError } from '../../../src/memory/guest-memory.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { DescFlag } from '../../../src/virtio/chain.js';
import { Reg, Status } from '../../../src/virtio/constants.js';
import type { VirtioDevice } from '../../../src/virtio/device.js';
import { VirtioBlock } from '../../../src/devices/virtio/block/device.js';
import { RequestType } from '../../../src/devices/virtio/block/request.js';
import { VirtioRng } from '../../../src/devices/virtio/rng.js';
import { VirtioNet } from '../../../src/devices/virtio/net.js';
import { FakeWire } from './fake-wire.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings } from '../../virtio/fixtures.js';
import { MemoryDisk } from './memory-disk.js';
import { mulberry32 as prng } from '../../helpers/prng.js';

const CHAINS_PER_DEVICE = 100_000;
const MEMORY_SIZE = 1 << 20;
const QUEUE_SIZE = 16;
/** Let asynchronous completions land every so many chains. */
const SETTLE_EVERY = 16;
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);

/** Guest memory that counts every access the VMM tries outside guest RAM. */
class CountingMemory extends GuestMemory {
  outOfBounds = 0;
  private count<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof GuestMemoryError) this.outOfBounds++;
      throw err;
    }
  }
  override slice(address: number, length: number): Uint8Array {
    return this.count(() => super.slice(address, length));
  }
  override readU8(address: number): number {
    return this.count(() => super.readU8(address));
  }
  override readU16(address: number): number {
    return this.count(() => super.readU16(address));
  }
  override readU32(address: number): number {
    return this.count(() => super.readU32(address));
  }
  override readU64(address: number): number {
    return this.count(() => super.readU64(address));
  }
  override writeU8(address: number, v: number): void {
    this.count(() => super.writeU8(address, v));
  }
  override writeU16(address: number, v: number): void {
    this.count(() => super.writeU16(address, v));
  }
  override writeU32(address: number, v: number): void {
    this.count(() => super.writeU32(address, v));
  }
}

interface Outcome {
  outOfBounds: number;
  internalErrors: number;
  escaped: number;
  resets: number;
  used: number;
  /** Warnings counted for guest mistakes (bad chains, bad requests). */
  guestErrors: number;
  /** virtio-blk: requests that reached the disk. */
  diskRequests: number;
}

interface Target {
  /** The queue the random chains go to. */
  queue: number;
  queueCount: number;
  /** Called every iteration, e.g. to push host-side frames in. */
  tick?: (device: VirtioDevice, i: number) => void;
}

async function fuzz(makeDevice: () => VirtioDevice, seed: number, target: Target = { queue: 0, queueCount: 1 }): Promise<Outcome> {
  const Q = target.queue;
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const warnings: string[] = [];
  const restore = captureWarnings(warnings);
  const memory = new CountingMemory([{ guestAddress: 0, bytes: new Uint8Array(MEMORY_SIZE) }]);
  const device = makeDevice();
  const transport = new MmioTransport(device, memory, { interrupt: () => {} });
  const outcome: Outcome = { outOfBounds: 0, internalErrors: 0, escaped: 0, resets: 0, used: 0, guestErrors: 0, diskRequests: 0 };
  let driver = new MockDriver(transport, memory);
  driver.init({ queueSize: QUEUE_SIZE, queueCount: target.queueCount });
  // Buffers live in the upper half; the rings in the lower part the driver allocated.
  const heap = MEMORY_SIZE / 2;
  const table = () => driver.queues[Q]!.desc;

  /** An address: mostly inside RAM, sometimes at its edge, sometimes far outside. */
  const address = (): number => {
    const r = random();
    if (r < 0.85) return heap + int(heap - 64);
    if (r < 0.95) return MEMORY_SIZE - int(32);
    return [0xffff_ffff, 2 ** 40, 2 ** 63, MEMORY_SIZE][int(4)]!;
  };
  const length = (): number => {
    const r = random();
    if (r < 0.7) return [0, 1, 16, 512, 1024, 4096][int(6)]!;
    if (r < 0.9) return int(8192);
    return [0xffff_ffff, 0x8000_0000, MEMORY_SIZE][int(3)]!;
  };
  const flags = (): number => (random() < 0.8 ? [0, DescFlag.NEXT, DescFlag.WRITE, DescFlag.NEXT | DescFlag.WRITE][int(4)]! : int(8));

  try {
    for (let i = 0; i < CHAINS_PER_DEVICE; i++) {
      // Some chains are shaped like real block requests (header, data, status) so valid ones reach the disk too.
      const plausible = random() < 0.4;
      const dataWritable = random() < 0.5;
      const descriptors = plausible ? 3 : 1 + int(5);
      const head = int(QUEUE_SIZE);
      const inIndirect = random() < 0.15;
      const base = inIndirect ? heap + 16 * int(1000) : table();
      for (let d = 0; d < descriptors; d++) {
        const index = inIndirect ? d : (head + d) % QUEUE_SIZE;
        const at = plausible ? heap + int(heap - 4096) : address();
        const plausibleLength = [16, 512 * (1 + int(4)), 1][d]!;
        const plausibleFlags = [DescFlag.NEXT, DescFlag.NEXT | (dataWritable ? DescFlag.WRITE : 0), DescFlag.WRITE][d]!;
        driver.writeDescriptor(base, index, {
          address: at,
          length: plausible ? plausibleLength : length(),
          flags: plausible ? plausibleFlags : d + 1 < descriptors ? flags() | DescFlag.NEXT : flags() & ~DescFlag.NEXT,
          next: plausible || random() < 0.9 ? (inIndirect ? d + 1 : (index + 1) % QUEUE_SIZE) : int(QUEUE_SIZE + 4),
        });
        // A plausible virtio-blk header in the first buffer, when it lands in RAM.
        if (d === 0 && memory.isValidRange(at, 16)) {
          const type = plausible ? (dataWritable ? RequestType.IN : RequestType.OUT) : -1;
          memory.writeU32(
            at,
            type >= 0 && random() < 0.8
              ? type
              : [RequestType.IN, RequestType.OUT, RequestType.FLUSH, RequestType.GET_ID, RequestType.DISCARD, RequestType.WRITE_ZEROES, int(20)][
                  int(7)
                ]!,
          );
          memory.writeU32(at + 8, random() < 0.8 ? int(80) : int(2 ** 32));
          memory.writeU32(at + 12, random() < 0.9 ? 0 : int(2 ** 32));
        }
      }
      if (inIndirect)
        driver.writeDescriptor(table(), head, {
          address: base,
          length: random() < 0.9 ? 16 * descriptors : int(200),
          flags: DescFlag.INDIRECT | (random() < 0.1 ? DescFlag.NEXT : 0),
          next: 0,
        });
      if (random() < 0.002) {
        // A wild available index: the ring is broken, the device must ask for a reset.
        memory.writeU16(driver.queues[Q]!.avail + 2, int(65536));
      } else {
        driver.publish(Q, random() < 0.97 ? head : int(65536));
      }
      try {
        driver.notify(Q);
        target.tick?.(device, i);
      } catch {
        outcome.escaped++;
      }
      if (i % SETTLE_EVERY === 0) {
        await new Promise((r) => setImmediate(r));
        outcome.used += driver.takeUsed(Q).length;
      }
      if (driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET) {
        outcome.resets++;
        await new Promise((r) => setImmediate(r));
        driver = new MockDriver(transport, memory);
        driver.init({ queueSize: QUEUE_SIZE, queueCount: target.queueCount });
      }
    }
    await new Promise((r) => setImmediate(r));
  } finally {
    restore();
  }
  outcome.outOfBounds = memory.outOfBounds;
  outcome.internalErrors = warnings.filter((w) => /internal error/.test(w)).length;
  outcome.guestErrors = transport.errors.count;
  if (device instanceof VirtioBlock) outcome.diskRequests = device.stats.reads + device.stats.writes + device.stats.flushes;
  return outcome;
}

describe(`virtio fuzz: ${CHAINS_PER_DEVICE} random descriptor chains per device (seed ${SEED})`, function () {
  this.timeout(300_000);

  for (const [name, make, target] of [
    // Requests complete inline, as on the VMM's main thread and the block device thread (src/vmm/block-thread.ts).
    ['virtio-blk', () => new VirtioBlock(new MemoryDisk(64 * 512), 'fuzz'), undefined],
    ['virtio-blk read-only', () => new VirtioBlock(new MemoryDisk(64 * 512, true), 'fuzz'), undefined],
    ['virtio-rng', () => new VirtioRng(), undefined],
    ['virtio-net transmit', () => new VirtioNet(new FakeWire(), new Uint8Array(6)), { queue: 1, queueCount: 2 }],
    [
      'virtio-net receive',
      () => new VirtioNet(new FakeWire(), new Uint8Array(6)),
      {
        queue: 0,
        queueCount: 2,
        // A frame from the host side every other chain, of a random-ish size.
        tick: (device: VirtioDevice, i: number) => {
          if (i % 2 === 0) ((device as VirtioNet)['backend'] as FakeWire).receive!(new Uint8Array(14 + ((i * 7919) % 1600)));
        },
      },
    ],
  ] as const) {
    it(`${name}: no exception escapes, no access outside guest memory, no internal error`, async () => {
      const outcome = await fuzz(make, SEED, 'queue' in (target ?? {}) ? target : undefined);
      if (process.env['FUZZ_VERBOSE']) console.log(outcome);
      expect(outcome.escaped, 'exceptions out of the transport').to.equal(0);
      expect(outcome.outOfBounds, 'accesses outside guest memory').to.equal(0);
      expect(outcome.internalErrors, 'internal errors').to.equal(0);
      // The fuzz must exercise both paths: chains completed, and broken rings reset.
      expect(outcome.used, 'chains returned').to.be.greaterThan(CHAINS_PER_DEVICE / 4);
      expect(outcome.resets, 'resets after broken rings').to.be.greaterThan(0);
      expect(outcome.guestErrors, 'hostile chains refused').to.be.greaterThan(CHAINS_PER_DEVICE / 10);
      if (name.startsWith('virtio-blk') && !name.includes('read-only'))
        expect(outcome.diskRequests, 'valid requests executed').to.be.greaterThan(1000);
    });
  }
});
