import { expect } from 'chai';
import { VirtioBlock, BlkFeature } from '../../../src/devices/virtio/block/device.js';
import { BlkStatus, RequestType } from '../../../src/devices/virtio/block/request.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { Feature, Reg, Status, featureBit } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';
import { MemoryDisk } from './memory-disk.js';

const SECTOR = 512;

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

function rangeSegment(sector: number, count: number, flags = 0): Uint8Array {
  const s = new Uint8Array(16);
  const v = new DataView(s.buffer);
  v.setBigUint64(0, BigInt(sector), true);
  v.setUint32(8, count, true);
  v.setUint32(12, flags, true);
  return s;
}

const settle = () => new Promise((r) => setImmediate(r));

describe('virtio-blk', () => {
  let restore: () => void;
  let disk: MemoryDisk;
  let block: VirtioBlock;
  let driver: MockDriver;
  let interrupts: number;

  function start(readOnly = false): void {
    disk = new MemoryDisk(64 * SECTOR, readOnly);
    block = new VirtioBlock(disk, 'mvm-disk-0');
    interrupts = 0;
    const memory = smallMemory();
    const transport = new MmioTransport(block, memory, { interrupt: () => interrupts++ });
    driver = new MockDriver(transport, memory);
    expect(driver.init() & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
  }

  /** Sends one request; returns the status byte, the used length and the data buffer's address. */
  async function request(type: number, sector: number, data: { out?: Uint8Array; inLength?: number }, options: { indirect?: boolean } = {}) {
    const buffers = [{ length: 16, data: header(type, sector) }];
    if (data.out) buffers.push({ length: data.out.length, data: data.out });
    if (data.inLength) buffers.push({ length: data.inLength, write: true } as never);
    buffers.push({ length: 1, write: true } as never);
    const { head, addresses } = driver.addChain(0, buffers, options);
    driver.memory.writeU8(addresses[addresses.length - 1]!, 0xff);
    driver.notify(0);
    await settle();
    const used = driver.takeUsed(0);
    expect(used).to.have.length(1);
    expect(used[0]!.id).to.equal(head);
    return { status: driver.memory.readU8(addresses[addresses.length - 1]!), usedLength: used[0]!.length, dataAddress: addresses[1]! };
  }

  beforeEach(() => {
    restore = captureWarnings([]);
    start();
  });
  afterEach(() => restore());

  it('announces capacity, segment limit, block size, discard/write-zeroes limits and features', () => {
    const features = driver.deviceFeatures();
    for (const bit of [BlkFeature.FLUSH, BlkFeature.DISCARD, BlkFeature.WRITE_ZEROES, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, Feature.VERSION_1]) {
      expect(features & featureBit(bit), `bit ${bit}`).to.not.equal(0n);
    }
    expect(features & featureBit(BlkFeature.RO)).to.equal(0n);
    const config = new DataView(driver.readConfig(0, 60).buffer);
    expect(config.getBigUint64(0, true)).to.equal(64n);
    expect(config.getUint32(12, true)).to.equal(254);
    expect(config.getUint32(20, true)).to.equal(512);
    expect(config.getUint32(40, true)).to.equal(1);
    expect(driver.readReg(Reg.CONFIG + 0)).to.equal(64);
  });

  it('writes then reads sectors back (direct and indirect chains)', async () => {
    const payload = Uint8Array.from({ length: 2 * SECTOR }, (_, i) => (i * 7) & 0xff);
    const w = await request(RequestType.OUT, 3, { out: payload });
    expect(w.status).to.equal(BlkStatus.OK);
    expect(w.usedLength).to.equal(1);
    expect([...disk.bytes.subarray(3 * SECTOR, 5 * SECTOR)]).to.deep.equal([...payload]);
    const r = await request(RequestType.IN, 3, { inLength: 2 * SECTOR }, { indirect: true });
    expect(r.status).to.equal(BlkStatus.OK);
    expect(r.usedLength).to.equal(2 * SECTOR + 1);
    expect([...driver.memory.read(r.dataAddress, 2 * SECTOR)]).to.deep.equal([...payload]);
    expect(interrupts).to.be.greaterThan(0);
    expect(block.stats.reads).to.equal(1);
    expect(block.stats.bytesWritten).to.equal(2 * SECTOR);
  });

  it('serves a Linux-shaped 128 KiB read: an indirect table of 258 entries (header, 256 segments, status) on a 256-entry queue', async () => {
    const big = new MemoryDisk(1 << 20);
    big.bytes.fill(0x5a);
    const memory = smallMemory(4 << 20);
    const d = new MockDriver(new MmioTransport(new VirtioBlock(big, 'big'), memory, { interrupt: () => {} }), memory);
    d.init();
    const buffers = [
      { length: 16, data: header(RequestType.IN, 8) },
      ...Array.from({ length: 256 }, () => ({ length: SECTOR, write: true })),
      { length: 1, write: true },
    ];
    const { head, addresses } = d.addChain(0, buffers, { indirect: true });
    d.notify(0);
    await settle();
    expect(d.takeUsed(0)).to.deep.equal([{ id: head, length: 256 * SECTOR + 1 }]);
    expect(memory.readU8(addresses[257]!)).to.equal(BlkStatus.OK);
    expect(memory.readU8(addresses[200]!)).to.equal(0x5a);
  });

  it('flushes the backend', async () => {
    expect((await request(RequestType.FLUSH, 0, {})).status).to.equal(BlkStatus.OK);
    expect(disk.calls).to.deep.equal(['flush']);
  });

  it('answers get-id with the drive name, NUL-padded to 20 bytes', async () => {
    const r = await request(RequestType.GET_ID, 0, { inLength: 20 });
    expect(r.status).to.equal(BlkStatus.OK);
    expect(r.usedLength).to.equal(21);
    const id = driver.memory.read(r.dataAddress, 20);
    expect(Buffer.from(id.subarray(0, 10)).toString()).to.equal('mvm-disk-0');
    expect([...id.subarray(10)]).to.deep.equal(new Array(10).fill(0));
  });

  it('discards and writes zeroes over one range', async () => {
    disk.bytes.fill(0xaa);
    expect((await request(RequestType.DISCARD, 0, { out: rangeSegment(2, 3) })).status).to.equal(BlkStatus.OK);
    expect((await request(RequestType.WRITE_ZEROES, 0, { out: rangeSegment(10, 1, 1) })).status).to.equal(BlkStatus.OK);
    expect(disk.calls).to.deep.equal([`discard ${2 * SECTOR} ${3 * SECTOR}`, `zeroes ${10 * SECTOR} ${SECTOR}`]);
  });

  it('refuses ranges with unknown flags, too many segments or outside the disk', async () => {
    expect((await request(RequestType.DISCARD, 0, { out: rangeSegment(2, 3, 1) })).status).to.equal(BlkStatus.UNSUPP);
    expect((await request(RequestType.WRITE_ZEROES, 0, { out: rangeSegment(2, 3, 2) })).status).to.equal(BlkStatus.UNSUPP);
    const two = new Uint8Array(32);
    two.set(rangeSegment(0, 1));
    two.set(rangeSegment(1, 1), 16);
    expect((await request(RequestType.DISCARD, 0, { out: two })).status).to.equal(BlkStatus.UNSUPP);
    expect((await request(RequestType.DISCARD, 0, { out: rangeSegment(63, 2) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.DISCARD, 0, { out: new Uint8Array(8) })).status).to.equal(BlkStatus.IOERR);
    expect(disk.calls).to.deep.equal([]);
  });

  it('refuses reads and writes beyond the last sector, or not whole sectors', async () => {
    expect((await request(RequestType.IN, 63, { inLength: 2 * SECTOR })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.OUT, 64, { out: new Uint8Array(SECTOR) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.OUT, 2 ** 53, { out: new Uint8Array(SECTOR) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.IN, 0, { inLength: 100 })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.IN, 63, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
    expect(disk.calls).to.deep.equal([`read ${63 * SECTOR} ${SECTOR}`]);
  });

  it('answers unknown request types with UNSUPP', async () => {
    expect((await request(99, 0, {})).status).to.equal(BlkStatus.UNSUPP);
  });

  it('returns a chain without a status byte or a full header unused, and goes on', async () => {
    driver.addChain(0, [{ length: 16, data: header(RequestType.FLUSH, 0) }]);
    driver.addChain(0, [{ length: 8 }, { length: 1, write: true }]);
    driver.notify(0);
    await settle();
    expect(driver.takeUsed(0).map((u) => u.length)).to.deep.equal([0, 0]);
    expect(block.stats.rejected).to.equal(2);
    expect((await request(RequestType.FLUSH, 0, {})).status).to.equal(BlkStatus.OK);
  });

  it('reports a host I/O failure as IOERR and keeps working', async () => {
    disk.failNext = true;
    expect((await request(RequestType.IN, 0, { inLength: SECTOR })).status).to.equal(BlkStatus.IOERR);
    expect(block.stats.ioErrors).to.equal(1);
    expect((await request(RequestType.IN, 0, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
  });

  it('on a read-only drive, offers RO and refuses writes, discards and write-zeroes without touching the disk', async () => {
    start(true);
    const features = driver.deviceFeatures();
    expect(features & featureBit(BlkFeature.RO)).to.not.equal(0n);
    expect(features & featureBit(BlkFeature.DISCARD)).to.equal(0n);
    expect((await request(RequestType.OUT, 0, { out: new Uint8Array(SECTOR) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.DISCARD, 0, { out: rangeSegment(0, 1) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.WRITE_ZEROES, 0, { out: rangeSegment(0, 1) })).status).to.equal(BlkStatus.IOERR);
    expect((await request(RequestType.IN, 0, { inLength: SECTOR })).status).to.equal(BlkStatus.OK);
    expect(disk.calls).to.deep.equal([`read 0 ${SECTOR}`]);
  });

  it('completes every request of a notification before it returns, with one interrupt for the batch', () => {
    const before = interrupts;
    const statuses = [0, 1, 2].map(() => {
      const { addresses } = driver.addChain(0, [
        { length: 16, data: header(RequestType.FLUSH, 0) },
        { length: 1, write: true },
      ]);
      driver.memory.writeU8(addresses[1]!, 0xff);
      return addresses[1]!;
    });
    driver.notify(0);
    // No await: nothing is left in flight.
    expect(driver.takeUsed(0)).to.have.length(3);
    for (const status of statuses) expect(driver.memory.readU8(status)).to.equal(BlkStatus.OK);
    expect(disk.calls).to.deep.equal(['flush', 'flush', 'flush']);
    expect(interrupts - before).to.equal(1);
  });
});
