// The mvm CLI's entry file, for the processes mvm starts detached from itself
// (the VMM of `mvm run -d`, the host relay of its API socket).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'index.js');
