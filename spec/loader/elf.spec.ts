import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BootError } from '../../src/arch/x86_64/boot-error.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { loadElfKernel } from '../../src/loader/elf.js';
import { EHDR_SIZE, buildElf, phdrField } from './elf-fixture.js';

const MiB = 1024 * 1024;
const KERNEL_AT = 0x100000;
const bytes = (...values: number[]) => Uint8Array.from(values);

function memory(size = 4 * MiB): GuestMemory {
  return GuestMemory.fromSizes([{ guestAddress: 0, size }]);
}

function simpleKernel(): Uint8Array {
  return buildElf({
    entry: KERNEL_AT,
    segments: [
      { paddr: KERNEL_AT, data: bytes(0x90, 0x90, 0xf4, 0xcc), memsz: 4 },
      { paddr: KERNEL_AT + 0x1000, data: bytes(1, 2, 3), memsz: 0x100 },
    ],
  });
}

function expectRejected(file: Uint8Array, pattern: RegExp, mem = memory()): void {
  let caught: unknown;
  try {
    loadElfKernel(mem, file);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'loader should refuse the file').to.be.instanceOf(BootError);
  expect((caught as Error).message).to.match(pattern);
}

function patch(file: Uint8Array, offset: number, write: (view: DataView) => void): Uint8Array {
  const copy = Uint8Array.from(file);
  write(new DataView(copy.buffer, offset));
  return copy;
}

describe('loader/elf', () => {
  describe('a valid vmlinux', () => {
    it('loads PT_LOAD segments at p_paddr and reports the entry and extent', () => {
      const mem = memory();
      const loaded = loadElfKernel(mem, simpleKernel());
      expect(loaded).to.deep.equal({ entry: KERNEL_AT, kernelStart: KERNEL_AT, kernelEnd: KERNEL_AT + 0x1100 });
      expect([...mem.read(KERNEL_AT, 4)]).to.deep.equal([0x90, 0x90, 0xf4, 0xcc]);
      expect([...mem.read(KERNEL_AT + 0x1000, 3)]).to.deep.equal([1, 2, 3]);
    });

    it('zero-fills the part of a segment beyond its file bytes (.bss)', () => {
      const mem = memory();
      mem.fill(KERNEL_AT + 0x1000, 0x200, 0xaa);
      loadElfKernel(mem, simpleKernel());
      expect(mem.read(KERNEL_AT + 0x1003, 0xfd).every((b) => b === 0)).to.equal(true);
      expect(mem.readU8(KERNEL_AT + 0x1100), 'byte after memsz untouched').to.equal(0xaa);
    });

    it('reports the PVH entry from a Xen PHYS32_ENTRY note with a 4- or 8-byte descriptor', () => {
      for (const desc of [bytes(0xa0, 0x04, 0x10, 0x00), bytes(0xa0, 0x04, 0x10, 0x00, 0, 0, 0, 0)]) {
        const file = buildElf({
          entry: KERNEL_AT,
          segments: [{ paddr: KERNEL_AT, data: bytes(0xf4) }],
          notes: [
            { name: 'GNU', type: 3, desc: new Uint8Array(20) },
            { name: 'Linux', type: 6, desc: bytes(0) },
            { name: 'Xen', type: 18, desc },
          ],
        });
        expect(loadElfKernel(memory(), file).pvhEntry).to.equal(0x1004a0);
      }
    });

    it('has no pvhEntry when no Xen note exists, and ignores other notes of type 18', () => {
      const file = buildElf({
        entry: KERNEL_AT,
        segments: [{ paddr: KERNEL_AT, data: bytes(0xf4) }],
        notes: [{ name: 'Linux', type: 18, desc: bytes(1, 2, 3, 4) }],
      });
      expect(loadElfKernel(memory(), file)).to.not.have.property('pvhEntry');
    });
  });

  describe('malformed files', () => {
    it('refuses files shorter than the ELF header, including an empty one', () => {
      expectRejected(new Uint8Array(0), /not an x86-64 vmlinux ELF: file is 0 bytes/);
      expectRejected(simpleKernel().subarray(0, EHDR_SIZE - 1), /shorter than an ELF64 header/);
    });

    it('refuses a wrong magic, class, endianness, version, type or machine', () => {
      const good = simpleKernel();
      expectRejected(
        patch(good, 0, (v) => v.setUint8(1, 0x46)),
        /bad magic/,
      );
      expectRejected(
        patch(good, 4, (v) => v.setUint8(0, 1)),
        /not a 64-bit ELF/,
      );
      expectRejected(
        patch(good, 5, (v) => v.setUint8(0, 2)),
        /not little-endian/,
      );
      expectRejected(
        patch(good, 6, (v) => v.setUint8(0, 0)),
        /unknown ELF version/,
      );
      expectRejected(
        patch(good, 0x10, (v) => v.setUint16(0, 3, true)),
        /e_type is 3/,
      );
      expectRejected(
        patch(good, 0x12, (v) => v.setUint16(0, 40, true)),
        /e_machine is 40/,
      );
    });

    it('refuses a bzImage or any random bytes with the same clear error', () => {
      const bz = new Uint8Array(4096);
      bz[0x1fe] = 0x55;
      bz[0x1ff] = 0xaa;
      expectRejected(bz, /^not an x86-64 vmlinux ELF: bad magic/);
    });

    it('refuses a program header table that runs past the end of the file', () => {
      const good = simpleKernel();
      expectRejected(
        patch(good, 0x38, (v) => v.setUint16(0, 1000, true)),
        /program header table/,
      );
      expectRejected(
        patch(good, 0x20, (v) => v.setUint32(0, good.length - 10, true)),
        /program header table/,
      );
    });

    it('refuses e_phoff and sizes beyond 2^53 without a typed-array exception', () => {
      const good = simpleKernel();
      expectRejected(
        patch(good, 0x20, (v) => v.setBigUint64(0, 0xffffffffffffffffn, true)),
        /e_phoff .* too large/,
      );
      expectRejected(
        patch(good, phdrField(0, 0x20), (v) => v.setBigUint64(0, 1n << 60n, true)),
        /p_filesz .* too large/,
      );
    });

    it('refuses a wrong e_phentsize and a zero or PN_XNUM program header count', () => {
      const good = simpleKernel();
      expectRejected(
        patch(good, 0x36, (v) => v.setUint16(0, 32, true)),
        /e_phentsize is 32/,
      );
      expectRejected(
        patch(good, 0x38, (v) => v.setUint16(0, 0, true)),
        /program header count 0/,
      );
      expectRejected(
        patch(good, 0x38, (v) => v.setUint16(0, 0xffff, true)),
        /program header count 65535/,
      );
    });

    it('refuses a segment whose file bytes lie beyond the end of the file', () => {
      const good = simpleKernel();
      expectRejected(
        patch(good, phdrField(1, 0x08), (v) => v.setUint32(0, good.length - 1, true)),
        /segment 1 .* beyond the end/,
      );
      expectRejected(
        patch(good, phdrField(1, 0x20), (v) => v.setUint32(0, 0x7fffffff, true)),
        /segment 1 .* beyond the end/,
      );
    });

    it('refuses a segment with more file bytes than memory bytes', () => {
      expectRejected(
        patch(simpleKernel(), phdrField(1, 0x28), (v) => v.setUint32(0, 1, true)),
        /more file bytes/,
      );
    });

    it('refuses a file without loadable segments', () => {
      const file = patch(simpleKernel(), phdrField(0, 0), (v) => v.setUint32(0, 6, true));
      const none = patch(file, phdrField(1, 0), (v) => v.setUint32(0, 6, true));
      expectRejected(none, /no loadable segment/);
    });

    it('refuses an entry point outside the loaded segments', () => {
      expectRejected(
        patch(simpleKernel(), 0x18, (v) => v.setUint32(0, 0x5000, true)),
        /entry point 0x5000/,
      );
    });

    it('refuses a truncated or oversized note', () => {
      const file = buildElf({
        entry: KERNEL_AT,
        segments: [{ paddr: KERNEL_AT, data: bytes(0xf4) }],
        notes: [{ name: 'Xen', type: 18, desc: bytes(1, 2, 3, 4) }],
      });
      const noteAt = file.length - 20;
      expectRejected(
        patch(file, noteAt + 4, (v) => v.setUint32(0, 0xfffffff0, true)),
        /runs past its segment/,
      );
      expectRejected(
        patch(file, noteAt + 4, (v) => v.setUint32(0, 2, true)),
        /2-byte descriptor/,
      );
    });
  });

  describe('random corruption', () => {
    it('either loads or fails with a BootError, never another exception (2000 mutated files)', () => {
      let seed = 0x2545f491;
      const random = () => {
        // xorshift32: deterministic, so a failure reproduces.
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) / 0x1_0000_0000;
      };
      const good = buildElf({
        entry: KERNEL_AT,
        segments: [{ paddr: KERNEL_AT, data: new Uint8Array(64).fill(0x90), memsz: 0x100 }],
        notes: [{ name: 'Xen', type: 18, desc: bytes(0, 0, 0x10, 0) }],
      });
      const mem = memory(2 * MiB);
      let refused = 0;
      for (let i = 0; i < 2000; i++) {
        const file = Uint8Array.from(good);
        for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) {
          // Mostly hit the headers, where the interesting fields are.
          const at = Math.floor(random() * (random() < 0.8 ? 64 + 2 * 56 : file.length));
          file[at] = Math.floor(random() * 256);
        }
        const cut = random() < 0.1 ? Math.floor(random() * file.length) : file.length;
        try {
          loadElfKernel(mem, file.subarray(0, cut));
        } catch (err) {
          expect(err, `mutation ${i}`).to.be.instanceOf(BootError);
          refused++;
        }
      }
      expect(refused, 'most mutations are refused').to.be.greaterThan(500);
    });
  });

  describe('segments that do not fit', () => {
    it('refuses a segment below 1 MiB, where the boot structures live', () => {
      const file = buildElf({ entry: 0x7000, segments: [{ paddr: 0x7000, data: bytes(0xf4) }] });
      expectRejected(file, /segment 0 at 0x7000 lies below 0x100000/);
    });

    it('refuses a segment outside guest RAM, leaving memory untouched', () => {
      const mem = memory(2 * MiB);
      const file = buildElf({
        entry: KERNEL_AT,
        segments: [
          { paddr: KERNEL_AT, data: bytes(0xf4) },
          { paddr: 2 * MiB - 0x10, data: bytes(1), memsz: 0x20 },
        ],
      });
      expectRejected(file, /segment 1 .* does not fit in guest memory/, mem);
      expect(mem.readU8(KERNEL_AT), 'nothing written before validation finished').to.equal(0);
    });

    it('refuses a p_paddr near 2^53 without arithmetic overflow', () => {
      const file = patch(simpleKernel(), phdrField(0, 0x18), (v) => v.setBigUint64(0, (1n << 53n) - 2n, true));
      expectRejected(file, /does not fit in guest memory/);
    });
  });

  describe('the project kernel (images/out/vmlinux)', () => {
    const path = fileURLToPath(new URL('../../../images/out/vmlinux', import.meta.url));

    it('loads with its entry at 16 MiB and a PVH note', function () {
      if (!existsSync(path)) {
        this.skip(); // `make kernel` (run by `make test`) builds it; a bare `npx mocha` may run before that.
      }
      const mem = memory(64 * MiB);
      const loaded = loadElfKernel(mem, readFileSync(path));
      expect(loaded.entry).to.equal(0x1000000);
      expect(loaded.kernelStart).to.equal(0x1000000);
      expect(loaded.kernelEnd)
        .to.be.greaterThan(loaded.kernelStart)
        .and.below(64 * MiB);
      expect(loaded.pvhEntry, 'CONFIG_PVH=y in firmware/kernel').to.be.a('number');
      expect(mem.readU8(loaded.entry), 'first byte of startup_64 is code').to.not.equal(0);
    });
  });
});
