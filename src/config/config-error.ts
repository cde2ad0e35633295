// The one shape of every `mvm run --config` error: where in which file, then
// what is wrong, on one line — "web.ini:7: [drive.data] mode: ...".
import { UserError } from '../errors.js';

/** A bad config file is a usage error, like a bad flag (commander's exit status). */
export const CONFIG_ERROR_EXIT = 2;

export interface ConfigPlace {
  /** The file as the user named it. */
  readonly file: string;
  /** 1-based line number, when the problem sits on one line. */
  readonly line?: number;
  /** The section's name as written between the brackets. */
  readonly section?: string;
  readonly key?: string;
}

/** What is wrong (`problem`) and where (`place`), with the message that puts them on one line. */
export class ConfigError extends UserError {
  constructor(
    readonly place: ConfigPlace,
    readonly problem: string,
  ) {
    const where = place.line === undefined ? place.file : `${place.file}:${place.line}`;
    const what = place.section === undefined ? '' : place.key === undefined ? `[${place.section}] ` : `[${place.section}] ${place.key}: `;
    super(`${where}: ${what}${problem}`, CONFIG_ERROR_EXIT);
    this.name = 'ConfigError';
  }
}

export function configError(place: ConfigPlace, problem: string): ConfigError {
  return new ConfigError(place, problem);
}
