// The one place where errors become messages and exit codes. Errors the user
// can cause (bad input, missing files, host limits) are UserError (src/errors.ts):
// one line, no stack. Anything else is a bug and keeps its stack for the report.
import { UserError } from '../errors.js';
import { SyscallError } from '../sys/syscall-error.js';

/** Exit status of a command-line usage error (commander's own, too). */
const EXIT_USAGE = 2;
/** EX_SOFTWARE from sysexits.h: an internal error. */
const EXIT_INTERNAL = 70;

/** True when the error carries a Node system error code such as ENOENT. */
function systemCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function describeError(err: unknown): { message: string; exitCode: number } {
  if (err instanceof UserError) return { message: err.message, exitCode: err.exitCode };
  const code = systemCode(err);
  if (code && err instanceof Error) {
    // Node's own messages for ENOENT/EACCES already name the path and the call.
    return { message: err.message, exitCode: 1 };
  }
  if (err instanceof SyscallError) {
    // A host system call failed (KVM refused an ioctl, out of memory): the
    // message names the call and the errno; a stack would add nothing.
    return { message: err.message, exitCode: 1 };
  }
  if (err instanceof Error && err.name === 'CommanderError') {
    return { message: err.message, exitCode: EXIT_USAGE };
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { message: `internal error (please report): ${text}`, exitCode: EXIT_INTERNAL };
}

export function exitWithError(err: unknown): never {
  const { message, exitCode } = describeError(err);
  process.stderr.write(`mvm: ${message}\n`);
  process.exit(exitCode);
}
