// The block device thread without KVM: guest RAM is an anonymous mapping of
// this process (as the VMM's is), the drive a raw file, the irqfd a plain
// eventfd, and a MockDriver plays the guest through the transport on this
// thread, as the main thread answers register exits. What the thread does
// (rings, preadv/pwritev into guest RAM, interrupt status, NEEDS_RESET) is
// the real thing.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_STATS_BYTES, VirtioBlock } from '../../src/devices/virtio/block/device.js';
import { BlkStatus, RequestType } from '../../src/devices/virtio/block/request.js';
import { RawDisk } from '../../src/disk/raw.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { EventNotifier } from '../../src/sys/event-notifier.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap } from '../../src/sys/libc.js';
import { Interrupt, Reg, Status } from '../../src/virtio/constants.js';
import type { SlotWiring } from '../../src/virtio/kvm-slot.js';
import { MmioTransport } from '../../src/virtio/mmio-transport.js';
import { BlockThread } from '../../src/vmm/block-thread-host.js';
import { MockDriver } from '../helpers/mock-driver.js';
import { captureWarnings } from '../virtio/fixtures.js';

const SECTOR = 512;
const RAM_BYTES = 1 << 20;
const DISK_BYTES = 64 * SECTOR;

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

/** Waits (on the event loop, so the thread's messages arrive) until `done` holds. */
async function until(done: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('block device thread (raw drive served off the main loop)', function () {
  this.timeout(60_000);
  let dir: string;
  let path: string;
  let disk: RawDisk;
  let block: VirtioBlock;
  let transport: MmioTransport;
  let irq: EventNotifier;
  let thread: BlockThread;
  let driver: MockDriver;
  let memory: GuestMemory;
  let restore: () => void;
  let warnings: string[];
  const notifiers: EventNotifier[] = [];

  let forcedBefore: string | undefined;

  before(() => {
    // Whatever this host's CPU count says: the thread is what is under test.
    forcedBefore = process.env['MVM_BLOCK_THREAD'];
    process.env['MVM_BLOCK_THREAD'] = '1';
    warnings = [];
    restore = captureWarnings(warnings);
    dir = mkdtempSync(join(tmpdir(), 'mvm-block-thread-'));
    path = join(dir, 'disk.raw');
    const bytes = new Uint8Array(DISK_BYTES);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    writeFileSync(path, bytes);
    disk = RawDisk.open(path, false);
    block = new VirtioBlock(disk, 'mvm-spec', { counters: new SharedArrayBuffer(BLOCK_STATS_BYTES) });
    const ram = mmap(RAM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    memory = new GuestMemory([{ guestAddress: 0, bytes: new Uint8Array(ram.buffer) }]);
    irq = EventNotifier.create();
    transport = new MmioTransport(block, memory, { interrupt: () => irq.signal() });
    const wiring = {
      irqFd: irq.fd,
      queueEventFds: (t: MmioTransport) =>
        t.queues.map(() => {
          const n = EventNotifier.create();
          notifiers.push(n);
          return n;
        }),
    } as unknown as SlotWiring;
    const collector = BlockThread.collector();
    expect(collector.claim(transport, wiring, 0)).to.equal(true);
    thread = collector.start([{ guestAddress: 0, hostAddress: ram.address, size: RAM_BYTES }])!;
    driver = new MockDriver(transport, memory);
    expect(driver.init() & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
  });

  after(() => {
    thread?.stop();
    disk?.closeSync();
    for (const n of notifiers) n.close();
    irq?.close();
    rmSync(dir, { recursive: true, force: true });
    restore();
    if (forcedBefore === undefined) delete process.env['MVM_BLOCK_THREAD'];
    else process.env['MVM_BLOCK_THREAD'] = forcedBefore;
  });

  async function request(type: number, sector: number, data: { out?: Uint8Array; inLength?: number }) {
    const buffers = [{ length: 16, data: header(type, sector) }];
    if (data.out) buffers.push({ length: data.out.length, data: data.out });
    if (data.inLength) buffers.push({ length: data.inLength, write: true } as never);
    buffers.push({ length: 1, write: true } as never);
    const { head, addresses } = driver.addChain(0, buffers);
    memory.writeU8(addresses[addresses.length - 1]!, 0xff);
    driver.notify(0);
    let used: { id: number; length: number }[] = [];
    await until(() => {
      used = driver.takeUsed(0);
      return used.length > 0;
    }, 'the used entry');
    expect(used[0]!.id).to.equal(head);
    return { status: memory.readU8(addresses[addresses.length - 1]!), usedLength: used[0]!.length, dataAddress: addresses[1]! };
  }

  it('reads the image into guest RAM, sets InterruptStatus and signals the irqfd', async () => {
    irq.drain();
    const r = await request(RequestType.IN, 2, { inLength: 2 * SECTOR });
    expect(r.status).to.equal(BlkStatus.OK);
    expect(r.usedLength).to.equal(2 * SECTOR + 1);
    const expected = readFileSync(path).subarray(2 * SECTOR, 4 * SECTOR);
    expect(Buffer.from(memory.slice(r.dataAddress, 2 * SECTOR)).equals(expected)).to.equal(true);
    expect(driver.readReg(Reg.INTERRUPT_STATUS) & Interrupt.USED_BUFFER).to.equal(Interrupt.USED_BUFFER);
    expect(irq.drain(), 'irqfd signalled').to.equal(true);
    expect(block.stats.reads).to.equal(1);
    expect(thread.queuePositions(0)[0]!.nextUsed).to.equal(1);
  });

  it('writes guest data to the image and flushes', async () => {
    const out = new Uint8Array(SECTOR).fill(0xab);
    expect((await request(RequestType.OUT, 5, { out })).status).to.equal(BlkStatus.OK);
    expect((await request(RequestType.FLUSH, 0, {})).status).to.equal(BlkStatus.OK);
    expect(Buffer.from(readFileSync(path).subarray(5 * SECTOR, 6 * SECTOR)).equals(Buffer.from(out))).to.equal(true);
    expect(block.stats.writes).to.equal(1);
    expect(block.stats.flushes).to.equal(1);
  });

  it('answers a request beyond the disk with IOERR and goes on', async () => {
    expect((await request(RequestType.IN, 64, { inLength: SECTOR })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.IN, 0, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
  });

  it('pauses (requests wait in the ring) and resumes', async () => {
    expect(thread.pause()).to.equal(true);
    const { addresses } = driver.addChain(0, [
      { length: 16, data: header(RequestType.IN, 1) },
      { length: SECTOR, write: true },
      { length: 1, write: true },
    ]);
    driver.notify(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(driver.takeUsed(0), 'nothing served while paused').to.have.length(0);
    expect(thread.resume()).to.equal(true);
    await until(() => driver.takeUsed(0).length === 1, 'the request after resume');
    expect(memory.readU8(addresses[2]!)).to.equal(BlkStatus.OK);
  });

  it('a broken ring sets NEEDS_RESET; after a reset the device works again', async () => {
    const q = driver.queues[0]!;
    memory.writeU16(q.avail + 2, (q.availIdx + 1000) & 0xffff);
    driver.notify(0);
    await until(() => (driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0, 'NEEDS_RESET');
    // A new driver lays its rings where the old ones were: clear them, as a guest's fresh allocation would be.
    memory.fill(0, RAM_BYTES / 2);
    driver = new MockDriver(transport, memory);
    expect(driver.init() & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
    expect((await request(RequestType.IN, 0, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
  });

  it('refuses hostile chains without touching anything outside guest RAM, and keeps serving', async () => {
    const q = driver.queues[0]!;
    const before = warnings.length;
    for (let i = 0; i < 200; i++) {
      // Buffers far outside RAM, lengths past 4 GiB, loops through NEXT.
      driver.writeDescriptor(q.desc, q.nextFree, {
        address: i % 2 ? 2 ** 40 : RAM_BYTES - 8,
        length: i % 3 ? 0xffff_ffff : 64,
        flags: 1,
        next: q.nextFree,
      });
      driver.publish(0, q.nextFree);
      driver.notify(0);
    }
    await until(() => thread.queuePositions(0)[0]!.nextAvail === q.availIdx, 'the hostile chains to be consumed');
    driver.takeUsed(0);
    expect(warnings.length, 'each refusal warned (first few printed)').to.be.greaterThan(before);
    expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET).to.equal(0);
    expect((await request(RequestType.IN, 3, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
  });

  it('once stopped it no longer serves the queue', async () => {
    thread.stop();
    const { addresses } = driver.addChain(0, [
      { length: 16, data: header(RequestType.IN, 1) },
      { length: SECTOR, write: true },
      { length: 1, write: true },
    ]);
    memory.writeU8(addresses[2]!, 0xff);
    driver.notify(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(driver.takeUsed(0)).to.have.length(0);
    expect(memory.readU8(addresses[2]!)).to.equal(0xff);
  });
});
