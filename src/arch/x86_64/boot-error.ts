// The error every part of the x86_64 boot setup raises: a kernel or initrd
// that is malformed or does not fit, a command line that cannot be passed,
// a machine shape (RAM, CPU count) the boot structures cannot describe.
// All are caused by what the user asked for, so they are UserErrors: the CLI
// prints the one-line message, never a stack.
import { UserError } from '../../errors.js';

export class BootError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/** `0x…` for messages; addresses in boot errors are always shown in hex. */
export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
