// How the memory benchmark reads /proc: PSS, MemAvailable, and a VMM's
// mappings split into guest RAM and its own overhead (Firecracker's
// non-guest mappings), on fixed smaps text and on this process.
import { expect } from 'chai';
import { GUEST_MAPPING_SLACK_KiB, memAvailableKiB, parseSmaps, pssKiB, vmmOverhead } from '../../src/bench/memory/proc-memory.js';

/** One smaps entry: header line, then Rss and Pss. */
function entry(start: number, sizeKiB: number, perms: string, inode: number, path: string, rss: number, pss: number): string {
  const hex = (n: number) => n.toString(16).padStart(12, '0');
  return [
    `${hex(start)}-${hex(start + sizeKiB * 1024)} ${perms} 00000000 00:00 ${inode}${path ? `                    ${path}` : ''}`,
    `Size:           ${sizeKiB} kB`,
    `Rss:            ${rss} kB`,
    `Pss:            ${pss} kB`,
    'Swap:                  0 kB',
  ].join('\n');
}

const GUEST_KiB = 256 * 1024;
const smaps = [
  entry(0x400000, 2048, 'r-xp', 1234, '/usr/bin/node', 1800, 900),
  // Guest RAM merged with a few hundred KiB of neighbouring heap, as mvm's is.
  entry(0x7f0000000000, GUEST_KiB + 340, 'rw-p', 0, '', 28000, 28000),
  entry(0x7f1000000000, 8192, 'rw-p', 0, '[heap]', 5000, 5000),
  entry(0x7f2000000000, 512 * 1024, '---p', 0, '', 0, 0),
].join('\n');

describe('bench memory: reading /proc', () => {
  it('parses each mapping with its size, kind, Rss and Pss', () => {
    const maps = parseSmaps(smaps);
    expect(maps).to.have.length(4);
    expect(maps[0]).to.deep.equal({ sizeKiB: 2048, anonymous: false, snapshotMemory: false, writable: false, rssKiB: 1800, pssKiB: 900 });
    expect(maps[1]).to.include({ sizeKiB: GUEST_KiB + 340, anonymous: true, writable: true });
    expect(maps[2]).to.include({ anonymous: true, rssKiB: 5000 });
  });

  it('counts the guest-sized anonymous mapping as guest RAM and everything else as VMM overhead', () => {
    expect(vmmOverhead(parseSmaps(smaps), GUEST_KiB)).to.deep.equal({
      guestMappings: 1,
      guestRssKiB: 28000,
      overheadRssKiB: 6800,
      overheadPssKiB: 5900,
    });
  });

  it('finds no guest RAM when no anonymous writable mapping has its size (within the slack)', () => {
    expect(vmmOverhead(parseSmaps(smaps), 128 * 1024)).to.equal(undefined);
    expect(vmmOverhead(parseSmaps(smaps), GUEST_KiB - GUEST_MAPPING_SLACK_KiB - 1)).to.equal(undefined);
    // A read-only or file mapping of the right size is not guest RAM.
    expect(vmmOverhead(parseSmaps(entry(0x1000, GUEST_KiB, 'r--p', 0, '', 10, 10)), GUEST_KiB)).to.equal(undefined);
    expect(vmmOverhead(parseSmaps(entry(0x1000, GUEST_KiB, 'rw-p', 77, '/some/file', 10, 10)), GUEST_KiB)).to.equal(undefined);
  });

  it("counts a restored VM's private mapping of its snapshot's memory file as guest RAM", () => {
    const restored = [
      entry(0x1000, GUEST_KiB, 'rw-p', 77, '/tmp/template/memory.bin', 9000, 4500),
      entry(0x7f1000000000, 8192, 'rw-p', 0, '[heap]', 5000, 5000),
    ].join('\n');
    expect(vmmOverhead(parseSmaps(restored), GUEST_KiB)).to.deep.equal({
      guestMappings: 1,
      guestRssKiB: 9000,
      overheadRssKiB: 5000,
      overheadPssKiB: 5000,
    });
    // Read-only, it is not RAM the guest runs in.
    expect(vmmOverhead(parseSmaps(entry(0x1000, GUEST_KiB, 'r--p', 77, '/tmp/template/memory.bin', 10, 10)), GUEST_KiB)).to.equal(undefined);
  });

  it('refuses a mapping whose end lies before its start', () => {
    expect(() => parseSmaps('00002000-00001000 rw-p 00000000 00:00 0')).to.throw(/malformed/);
  });

  it("reads MemAvailable and this process's PSS, and nothing for a process that does not exist", () => {
    expect(memAvailableKiB('MemTotal:  1000 kB\nMemFree:  10 kB\nMemAvailable:  512 kB\n')).to.equal(512);
    expect(() => memAvailableKiB('MemTotal:  1000 kB\n')).to.throw(/MemAvailable/);
    expect(memAvailableKiB()).to.be.greaterThan(0);
    expect(pssKiB(process.pid)).to.be.greaterThan(0);
    expect(pssKiB(0x7ffffff0)).to.equal(undefined);
  });
});
