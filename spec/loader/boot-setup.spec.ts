import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BootError } from '../../src/arch/x86_64/boot-error.js';
import { ZERO_PAGE_SIZE, readBootParams } from '../../src/arch/x86_64/boot-params.js';
import { e820Map, guestRamRegions } from '../../src/arch/x86_64/e820.js';
import { BOOT_GDT_SIZE } from '../../src/arch/x86_64/gdt.js';
import {
  BOOT_GDT_START,
  BOOT_IDT_START,
  BOOT_STACK_POINTER,
  CMDLINE_MAX_SIZE,
  CMDLINE_START,
  EBDA_START,
  HIMEM_START,
  MiB,
  PDE_START,
  PML4_START,
  ZERO_PAGE_START,
} from '../../src/arch/x86_64/layout.js';
import { mpTableSize } from '../../src/arch/x86_64/mptable.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { setupBoot } from '../../src/loader/boot-setup.js';
import { KernelCmdline } from '../../src/loader/cmdline.js';
import { parseMpTable } from '../arch/x86_64/mp-parse.js';
import { buildElf } from './elf-fixture.js';

const KERNEL_AT = 16 * MiB;
const kernel = buildElf({
  entry: KERNEL_AT + 0x40,
  segments: [{ paddr: KERNEL_AT, data: new Uint8Array(0x1000).fill(0x90), memsz: 0x3000 }],
});

function ramFor(memorySize: number): GuestMemory {
  return GuestMemory.fromSizes(guestRamRegions(memorySize));
}

describe('loader/boot-setup', () => {
  describe('on a synthetic kernel with 64 MiB and 3 vCPUs', () => {
    const memorySize = 64 * MiB;
    const memory = ramFor(memorySize);
    const initrd = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
    const boot = setupBoot(memory, { kernel, initrd, cmdline: 'console=ttyS0 reboot=k panic=1', cpus: 3 });

    it('returns the entry and the start state for the boot vCPU', () => {
      expect(boot.entry).to.equal(KERNEL_AT + 0x40);
      expect(boot.registers).to.include({ rip: KERNEL_AT + 0x40, rsi: ZERO_PAGE_START, rsp: BOOT_STACK_POINTER, rflags: 2 });
      expect(boot.specialRegisters.cr3).to.equal(PML4_START);
      expect(boot.msrs.length).to.be.greaterThan(5);
    });

    it('loads the kernel', () => {
      expect(memory.readU8(KERNEL_AT)).to.equal(0x90);
      expect(boot.kernel).to.include({ kernelStart: KERNEL_AT, kernelEnd: KERNEL_AT + 0x3000 });
    });

    it('points the zero page at the command line, the initrd and the e820 map', () => {
      const bp = readBootParams(memory);
      expect(bp).to.include({ bootFlag: 0xaa55, header: 0x53726448, typeOfLoader: 0xff, cmdlinePtr: CMDLINE_START });
      const line = new TextDecoder().decode(memory.read(bp.cmdlinePtr, bp.cmdlineSize));
      expect(line).to.equal('console=ttyS0 reboot=k panic=1');
      expect(memory.readU8(bp.cmdlinePtr + bp.cmdlineSize)).to.equal(0);
      expect(bp.ramdiskSize).to.equal(initrd.length);
      expect(memory.read(bp.ramdiskImage, bp.ramdiskSize)).to.deep.equal(initrd);
      expect(bp.ramdiskImage).to.be.at.least(boot.kernel.kernelEnd);
      expect(bp.ramdiskImage + bp.ramdiskSize).to.be.at.most(memorySize);
      expect(bp.e820).to.deep.equal(e820Map(guestRamRegions(memorySize)));
    });

    it('writes an MP table for the 3 vCPUs', () => {
      const mp = parseMpTable(memory);
      expect(mp.cpus.map((c) => c.apicId)).to.deep.equal([0, 1, 2]);
      expect(mp.ioapics[0]!.id).to.equal(3);
    });

    it('writes the page tables and the GDT', () => {
      expect(memory.readU64(PML4_START) & 1, 'PML4[0] present').to.equal(1);
      expect(memory.readU64(PDE_START + 8 * 8)).to.equal(KERNEL_AT | 0x83);
      expect(memory.readU32(BOOT_GDT_START + 0x10 + 4)).to.equal(0x00af9b00);
    });
  });

  it('places the boot structures in disjoint ranges below the kernel', () => {
    const ranges: [string, number, number][] = [
      ['GDT', BOOT_GDT_START, BOOT_GDT_SIZE],
      ['IDT', BOOT_IDT_START, 8],
      ['zero page', ZERO_PAGE_START, ZERO_PAGE_SIZE],
      ['boot stack (one page below its top)', BOOT_STACK_POINTER - 0xff0, 0xff0],
      ['page tables', PML4_START, 3 * 0x1000],
      ['command line', CMDLINE_START, CMDLINE_MAX_SIZE],
      ['MP table', EBDA_START, mpTableSize(1)],
    ];
    ranges.sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < ranges.length; i++) {
      const [prevName, prevStart, prevSize] = ranges[i - 1]!;
      expect(prevStart + prevSize, `${prevName} ends before ${ranges[i]![0]}`).to.be.at.most(ranges[i]![1]);
    }
    expect(ranges.at(-1)![1] + ranges.at(-1)![2]).to.be.at.most(HIMEM_START);
  });

  it('accepts a prepared KernelCmdline and omits the initrd when none is given', () => {
    const memorySize = 32 * MiB;
    const memory = ramFor(memorySize);
    const cmdline = new KernelCmdline().set('console', 'ttyS0').addVirtioMmioDevice(0xd0000000, 0x1000, 5);
    const boot = setupBoot(memory, { kernel, cmdline, cpus: 1 });
    expect(boot).to.not.have.property('initrd');
    const bp = readBootParams(memory);
    expect(bp.ramdiskImage).to.equal(0);
    expect(new TextDecoder().decode(memory.read(CMDLINE_START, bp.cmdlineSize))).to.equal('console=ttyS0 virtio_mmio.device=4K@0xd0000000:5');
  });

  it('refuses before writing anything: bad CPU count, memory that does not match, a bad command line', () => {
    const memorySize = 32 * MiB;
    const memory = ramFor(memorySize);
    const options = { kernel, cmdline: 'console=ttyS0', cpus: 1 };
    expect(() => setupBoot(memory, { ...options, cpus: 0 })).to.throw(BootError, /vCPUs requested/);
    expect(() => setupBoot(memory, { ...options, cpus: 1000 })).to.throw(BootError, /vCPUs requested/);
    // 32 MiB in all, but not where the layout for 32 MiB puts it (one region from 0).
    const holed = GuestMemory.fromSizes([
      { guestAddress: 0, size: 16 * MiB },
      { guestAddress: 32 * MiB, size: 16 * MiB },
    ]);
    expect(() => setupBoot(holed, options)).to.throw(BootError, /does not map/);
    expect(() => setupBoot(memory, { ...options, cmdline: 'a\nb' })).to.throw(BootError, /control character/);
    expect(memory.readU8(KERNEL_AT), 'kernel not loaded').to.equal(0);
  });

  it('refuses a kernel too big for guest RAM and an initrd that does not fit', () => {
    const memorySize = 17 * MiB;
    const memory = ramFor(memorySize);
    const big = buildElf({ entry: KERNEL_AT, segments: [{ paddr: KERNEL_AT, data: new Uint8Array(16), memsz: 2 * MiB }] });
    expect(() => setupBoot(memory, { kernel: big, cmdline: '', cpus: 1 })).to.throw(BootError, /does not fit/);
    const initrd = new Uint8Array(20 * MiB);
    expect(() => setupBoot(memory, { kernel, initrd, cmdline: '', cpus: 1 })).to.throw(BootError, /initrd .* does not fit/);
  });

  describe('with the project kernel and initramfs (images/out)', () => {
    const out = (name: string) => fileURLToPath(new URL(`../../../images/out/${name}`, import.meta.url));

    it('lays out vmlinux + initramfs in 128 MiB for 2 vCPUs', function () {
      if (!existsSync(out('vmlinux')) || !existsSync(out('initramfs.cpio.gz'))) {
        this.skip(); // built by `make images`, which `make test` runs first
      }
      const memorySize = 128 * MiB;
      const memory = ramFor(memorySize);
      const initrd = readFileSync(out('initramfs.cpio.gz'));
      const boot = setupBoot(memory, {
        kernel: readFileSync(out('vmlinux')),
        initrd,
        cmdline: 'console=ttyS0 reboot=k panic=1',
        cpus: 2,
      });
      expect(boot.entry).to.equal(0x1000000);
      const bp = readBootParams(memory);
      expect(bp.ramdiskImage).to.be.at.least(boot.kernel.kernelEnd);
      expect(memory.read(bp.ramdiskImage, 2), 'gzip magic').to.deep.equal(Uint8Array.of(0x1f, 0x8b));
      expect(parseMpTable(memory).cpus).to.have.length(2);
    });
  });
});
