// images/build-kernel.sh's output: an ELF64 x86-64 vmlinux with a PVH entry
// note, built from the project's fragment, and reused from the cache.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EM_X86_64, ELFCLASS64, ELFDATA2LSB, ET_EXEC, PT_LOAD, readElf64, readNotes, type Elf64 } from './elf64.js';
import { IMAGES_DIR, IMAGES_OUT, KERNEL_FRAGMENT } from './paths.js';

const KERNEL = path.join(IMAGES_OUT, 'vmlinux');
const BUILD_KERNEL = path.join(IMAGES_DIR, 'build-kernel.sh');
/** Xen's ELF note type for the 32-bit physical PVH entry point (xen/include/public/elfnote.h). */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const XEN_NOTE_NAME = 'Xen';
const FOUR_GIB = 0x1_0000_0000n;
/** A cold build takes about 5 minutes on 2 shared cores; allow for a busy machine. */
const COLD_BUILD_TIMEOUT_MS = 20 * 60_000;
const MVM_CACHE = process.env['MVM_CACHE'] ?? path.join(os.homedir(), '.cache', 'mvm');

/** True if ADDRESS lies in the physical range some PT_LOAD segment occupies. */
function loaded(elf: Elf64, address: bigint): boolean {
  return elf.segments.some((s) => s.type === PT_LOAD && address >= s.paddr && address < s.paddr + s.memSize);
}

describe('guest kernel (images/build-kernel.sh)', () => {
  let file: Buffer;
  let elf: Elf64;

  before(() => {
    if (!fs.existsSync(KERNEL)) throw new Error(`${KERNEL} is missing: run \`make kernel\` first`);
    file = fs.readFileSync(KERNEL);
    elf = readElf64(file);
  });

  it('is an ELF64 little-endian x86-64 executable', () => {
    expect([elf.elfClass, elf.data, elf.type, elf.machine]).to.deep.equal([ELFCLASS64, ELFDATA2LSB, ET_EXEC, EM_X86_64]);
  });

  it('has its entry point inside a loaded segment (physical addresses, at or above 1 MiB)', () => {
    expect(loaded(elf, elf.entry), `entry 0x${elf.entry.toString(16)}`).to.equal(true);
    expect(elf.entry >= 0x100000n).to.equal(true);
  });

  it('has a PVH entry note (Xen, type 18) pointing into a loaded segment below 4 GiB', () => {
    const pvh = readNotes(file, elf).filter((n) => n.name === XEN_NOTE_NAME && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
    expect(pvh).to.have.length(1);
    const desc = pvh[0]!.desc;
    expect([4, 8]).to.include(desc.length);
    const entry = desc.length === 4 ? BigInt(desc.readUInt32LE(0)) : desc.readBigUInt64LE(0);
    expect(entry < FOUR_GIB, 'a 32-bit entry').to.equal(true);
    expect(loaded(elf, entry), `PVH entry 0x${entry.toString(16)}`).to.equal(true);
  });

  it('was configured with every line of firmware/kernel/mvm-guest.config', () => {
    const check = spawnSync(path.join(IMAGES_DIR, 'check-kernel-config.sh'), [KERNEL_FRAGMENT, path.join(IMAGES_OUT, 'kernel.config')], {
      encoding: 'utf8',
    });
    expect(check.stdout).to.equal('');
    expect(check.status).to.equal(0);
  });

  describe('the build cache', function () {
    this.timeout(COLD_BUILD_TIMEOUT_MS);
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-kernel-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const build = (output: string) => spawnSync(BUILD_KERNEL, [output], { encoding: 'utf8', env: { ...process.env, MVM_CACHE } });

    it('builds once, then copies the cached kernel without compiling', () => {
      const first = build(path.join(dir, 'first', 'vmlinux'));
      expect(first.status, first.stderr).to.equal(0);
      const second = build(path.join(dir, 'second', 'vmlinux'));
      expect(second.status, second.stderr).to.equal(0);
      expect(second.stdout).to.match(/^build-kernel: cached kernel [0-9a-f]{16} -> /);
      expect(second.stdout + second.stderr).to.not.contain('building kernel');
      const firstKernel = fs.readFileSync(path.join(dir, 'first', 'vmlinux'));
      expect(fs.readFileSync(path.join(dir, 'second', 'vmlinux')).equals(firstKernel)).to.equal(true);
      for (const sibling of ['bzImage', 'kernel.config']) {
        expect(fs.existsSync(path.join(dir, 'second', sibling)), sibling).to.equal(true);
      }
      // Nothing half-built is left behind in the cache.
      const scratch = fs.readdirSync(path.join(MVM_CACHE, 'kernel')).filter((name) => name.startsWith('build.'));
      expect(scratch).to.deep.equal([]);
    });
  });
});
