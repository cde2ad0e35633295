// The mvm CLI's entry file, for the processes mvm starts detached from itself
// (the VMM of `mvm run -d`, the host relay of its API socket).
export { CLI_ENTRY } from '../runtime/build-layout.js';
