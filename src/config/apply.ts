// Merges `--config FILE.ini` into `mvm run`'s parsed options. A flag typed on
// the command line beats the file, and the file beats a flag's default:
// commander records where each value came from (getOptionValueSource:
// 'default', 'cli', 'env'…), and the file's values are stored with the
// source 'config' only over defaults and unset options.
//
// Repeatable flags add to the file rather than replace it: the file's disks
// come first (vda, vdb, …) and --disk's after them, NICs likewise, and
// --append's parameters follow the file's (a later kernel parameter wins).
//
// [vm] name names the VM of `mvm run -d` only; in the foreground (where
// --name is refused) it is ignored, so one file serves both ways.
import type { Command } from 'commander';
import { loadRunConfig, type RunConfigValues } from './run-config.js';

/** The attribute name of the --config option. */
const CONFIG_OPTION = 'config';
/** Commander's source for values that came from a config file. */
const CONFIG_SOURCE = 'config';
/** Sources the user chose on purpose, which a config file never overrides. */
const EXPLICIT_SOURCES: ReadonlySet<string | undefined> = new Set(['cli', 'env']);
const REPEATABLE: ReadonlySet<keyof RunConfigValues> = new Set(['append', 'disk', 'net', 'share']);
/** Values that only mean something to a detached VM (-d). */
const DETACHED_ONLY: ReadonlySet<keyof RunConfigValues> = new Set(['name']);
const DETACH_OPTION = 'detach';

/**
 * Reads the file named by --config, if any, into `command`'s options (the
 * same object its action received as `options`). Returns the file's
 * absolute path, or null without --config.
 */
export function applyConfigFile(command: Command): string | null {
  const file = command.getOptionValue(CONFIG_OPTION) as string | undefined;
  if (file === undefined) return null;
  const config = loadRunConfig(file);
  for (const [key, fileValue] of Object.entries(config.values) as [keyof RunConfigValues, unknown][]) {
    const source = command.getOptionValueSource(key);
    if (DETACHED_ONLY.has(key) && command.getOptionValue(DETACH_OPTION) !== true) continue;
    if (REPEATABLE.has(key)) {
      const flagValues = (EXPLICIT_SOURCES.has(source) ? command.getOptionValue(key) : undefined) as unknown[] | undefined;
      command.setOptionValueWithSource(key, [...(fileValue as unknown[]), ...(flagValues ?? [])], flagValues ? source : CONFIG_SOURCE);
    } else if (!EXPLICIT_SOURCES.has(source)) {
      command.setOptionValueWithSource(key, fileValue, CONFIG_SOURCE);
    }
  }
  return config.absolutePath;
}
