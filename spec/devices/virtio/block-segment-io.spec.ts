import { expect } from 'chai';
import { BOUNCE_WINDOW_BYTES, bounceWindows, readIntoSegmentsSync, writeFromSegmentsSync } from '../../../src/devices/virtio/block/segment-io.js';
import { smallMemory } from '../../virtio/fixtures.js';
import { MemoryDisk } from './memory-disk.js';

const PAGE = 4096;

describe('virtio-blk segment I/O', () => {
  it('groups segments into windows of at most the bounce size, a larger segment alone', () => {
    const pages = Array.from({ length: 300 }, (_, i) => ({ address: i * PAGE, length: PAGE }));
    const windows = bounceWindows(pages);
    expect(windows.map((w) => w.length)).to.deep.equal([BOUNCE_WINDOW_BYTES / PAGE, 300 - BOUNCE_WINDOW_BYTES / PAGE]);
    const big = { address: 0, length: 2 * BOUNCE_WINDOW_BYTES };
    expect(bounceWindows([pages[0]!, big, pages[1]!]).map((w) => w.length)).to.deep.equal([1, 1, 1]);
    expect(bounceWindows([])).to.deep.equal([]);
  });

  it('reads scattered pages with one backend call and puts each byte where the guest asked', () => {
    const memory = smallMemory();
    const disk = new MemoryDisk(64 * PAGE);
    for (let i = 0; i < disk.bytes.length; i++) disk.bytes[i] = (i * 7 + (i >> 12)) & 0xff;
    // Out of order in guest memory, as a fragmented page cache hands them over.
    const segments = [5, 2, 9, 3].map((page) => ({ address: page * PAGE, length: PAGE }));
    readIntoSegmentsSync(disk, memory, 8 * PAGE, segments);
    expect(disk.calls).to.deep.equal([`read ${8 * PAGE} ${4 * PAGE}`]);
    segments.forEach((s, i) => {
      expect(Buffer.from(memory.slice(s.address, PAGE)).equals(Buffer.from(disk.bytes.subarray((8 + i) * PAGE, (9 + i) * PAGE)))).to.equal(true);
    });
  });

  it('writes scattered pages with one backend call, in chain order', () => {
    const memory = smallMemory();
    const disk = new MemoryDisk(64 * PAGE);
    const segments = [7, 1, 4].map((page, i) => {
      memory.slice(page * PAGE, PAGE).fill(0x10 + i);
      return { address: page * PAGE, length: PAGE };
    });
    writeFromSegmentsSync(disk, memory, 2 * PAGE, segments);
    expect(disk.calls).to.deep.equal([`write ${2 * PAGE} ${3 * PAGE}`]);
    expect([...disk.bytes.subarray(2 * PAGE, 5 * PAGE)].filter((b, i) => b !== 0x10 + Math.floor(i / PAGE))).to.have.length(0);
    expect(disk.bytes[2 * PAGE - 1]).to.equal(0);
    expect(disk.bytes[5 * PAGE]).to.equal(0);
  });

  it('passes a failing backend call on, leaving the guest buffers as they were', () => {
    const memory = smallMemory();
    const disk = new MemoryDisk(16 * PAGE);
    disk.bytes.fill(0xaa);
    memory.slice(0, 2 * PAGE).fill(0x55);
    disk.failNext = true;
    expect(() =>
      readIntoSegmentsSync(disk, memory, 0, [
        { address: 0, length: PAGE },
        { address: PAGE, length: PAGE },
      ]),
    ).to.throw(/simulated EIO/);
    expect(memory.slice(0, 2 * PAGE).every((b) => b === 0x55)).to.equal(true);
  });
});
