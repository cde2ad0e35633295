// Guest RAM of a restored machine: the snapshot's memory file mapped
// MAP_PRIVATE, region by region. Nothing is read up front: a page comes from
// the file (the page cache, shared by every clone of the same snapshot) when
// the guest first touches it, and becomes the clone's own copy when the guest
// first writes it. The file must stay unchanged while clones run.
import { guestRamRegions } from '../arch/x86_64/e820.js';
import { GuestMemory, type MemoryRegion } from '../memory/guest-memory.js';
import type { VmFd } from '../kvm/vm.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import type { MemoryLayout } from '../snapshot/snapshot-state.js';
import * as ffi from '../sys/libc.js';
import { SyscallError, errnoName } from '../sys/syscall-error.js';
import type { GuestRamMapping } from './machine.js';

/** The RAM layout mvm gives a machine of `memoryBytes`, split as mapGuestMemory splits it. */
export function expectedRamLayout(memoryBytes: number): { guestAddress: number; size: number }[] {
  const layout: { guestAddress: number; size: number }[] = [];
  for (const ram of guestRamRegions(memoryBytes)) {
    for (let offset = 0; offset < ram.size; offset += ffi.MAX_MAPPING_BYTES) {
      layout.push({ guestAddress: ram.guestAddress + offset, size: Math.min(ffi.MAX_MAPPING_BYTES, ram.size - offset) });
    }
  }
  return layout;
}

/** Maps `path` (checked against `layout` by the snapshot reader) as the VM's RAM, copy-on-write. */
export function mapSnapshotMemory(
  vm: VmFd,
  path: string,
  layout: MemoryLayout,
  memoryBytes: number,
): { memory: GuestMemory; hostRanges: GuestRamMapping[] } {
  const expected = expectedRamLayout(memoryBytes);
  const matches =
    expected.length === layout.regions.length &&
    expected.every((r, i) => r.guestAddress === layout.regions[i]!.guestAddress && r.size === layout.regions[i]!.size);
  if (!matches) throw new SnapshotError(`the snapshot's memory regions are not the ones mvm lays out for ${memoryBytes} bytes of RAM`);
  let fd: number;
  try {
    fd = ffi.open(path, ffi.O_CLOEXEC);
  } catch (err) {
    throw new SnapshotError(`cannot open the snapshot's memory file ${path}: ${err instanceof SyscallError ? errnoName(err.errno) : String(err)}`);
  }
  const regions: MemoryRegion[] = [];
  const hostRanges: GuestRamMapping[] = [];
  try {
    layout.regions.forEach((region, slot) => {
      const mapping = ffi.mmap(region.size, ffi.PROT_READ | ffi.PROT_WRITE, ffi.MAP_PRIVATE | ffi.MAP_NORESERVE, fd, region.fileOffset);
      vm.setMemoryRegion(slot, region.guestAddress, region.size, mapping.address);
      regions.push({ guestAddress: region.guestAddress, bytes: new Uint8Array(mapping.buffer) });
      hostRanges.push({ guestAddress: region.guestAddress, hostAddress: mapping.address, size: region.size });
    });
  } catch (err) {
    if (err instanceof SyscallError) throw new SnapshotError(`cannot map the snapshot's memory: ${errnoName(err.errno)} from ${err.call}`);
    throw err;
  } finally {
    // The mappings keep the file; the descriptor is not needed any more.
    ffi.close(fd);
  }
  return { memory: new GuestMemory(regions), hostRanges };
}
