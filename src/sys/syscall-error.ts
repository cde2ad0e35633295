// A failed host system call, as an error that names the call and the errno.
// Kept apart from libc.ts so that code which only reports these errors (the
// CLI's error handler) need not load native code.
import { constants as osConstants } from 'node:os';

/** A failed system call, carrying errno and the name of what was attempted. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)} (${describeErrno(errno)})`);
    this.name = 'SyscallError';
  }
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

const errnoText: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOMEM: 'out of memory',
  EINVAL: 'invalid argument',
  EEXIST: 'already exists',
  EBUSY: 'device or resource busy',
  EFAULT: 'bad address',
  ENXIO: 'no such device or address',
  ENODEV: 'no such device',
  E2BIG: 'argument list too long',
  EINTR: 'interrupted',
  EAGAIN: 'try again',
};

function describeErrno(errno: number): string {
  return errnoText[errnoName(errno)] ?? 'system error';
}
