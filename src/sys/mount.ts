// mount(2), umount2(2) and pivot_root(2) through koffi, for the VMM's jail
// (src/vmm/jail/confine.ts), which runs them inside a mount namespace of its
// own so the host's mounts never change.
import koffi from 'koffi';
import { SyscallError } from './syscall-error.js';

const libc = koffi.load('libc.so.6');
const mountRaw = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Raw = libc.func('int umount2(const char *target, int flags)');
const syscall2 = libc.func('syscall', 'long', ['long', 'const char *', 'const char *']);

/** x86_64 syscall number of pivot_root(2) (glibc has no wrapper). */
const SYS_PIVOT_ROOT = 155;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MNT_DETACH = 0x2;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  if (mountRaw(source, target, fstype, flags, data) !== 0) throw new SyscallError(`mount ${source ?? fstype ?? ''} on ${target}`, koffi.errno());
}

export function unmount(target: string, flags: number): void {
  if (umount2Raw(target, flags) !== 0) throw new SyscallError(`umount ${target}`, koffi.errno());
}

/** pivot_root(2): `newRoot` becomes /, the old root is moved to `putOld` (under newRoot). */
export function pivotRoot(newRoot: string, putOld: string): void {
  if (Number(syscall2(SYS_PIVOT_ROOT, newRoot, putOld)) !== 0) throw new SyscallError(`pivot_root ${newRoot}`, koffi.errno());
}
