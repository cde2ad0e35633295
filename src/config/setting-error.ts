// A value that makes no valid device setting. The parsers of src/config throw
// it with the key the value belongs to and the facts, never with where the
// value came from: the flag parsers add "--net TEXT: " (flagSetting below),
// the config file reader adds "FILE:LINE: [section] key: " (run-config.ts).
import { UserError } from '../errors.js';

export class SettingError extends UserError {
  /** `key` is the setting's name in a --config section (tap, mac, path…); undefined for an error of flag syntax. */
  constructor(
    readonly key: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'SettingError';
  }
}

/** Runs the parser of FLAG's value TEXT; a SettingError becomes one line naming the flag and the value. */
export function flagSetting<T>(flag: string, text: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SettingError) throw new UserError(`${flag} ${text}: ${err.message}`);
    throw err;
  }
}
