// The error base type every layer throws, at the bottom of the import graph so
// that no layer has to know the command line to report a failure. A layer
// subclasses it with the facts (path, value, limit); only src/cli turns errors
// into printed messages and exit codes (src/cli/errors.ts).

/** An error whose message is a complete sentence for the user: one line, no stack. */
export class UserError extends Error {
  /** `exitCode` is the process status the CLI ends with when this error ends a command. */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
