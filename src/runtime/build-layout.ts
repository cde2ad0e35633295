// Which build of mvm this code runs from, and where that build's entry files
// are. The same modules run either from tsc's output (dist/src/…: the specs,
// development) or from the bundle (dist/bundle/: the `mvm` command, which
// starts in a quarter of the time because it loads a few files instead of
// ~150). Code that starts another mvm process or a worker thread must start a
// file of the build it runs from.
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** In the bundle this module's code lies in a file directly inside dist/bundle/; in tsc's output, in dist/src/runtime/. */
const here = dirname(fileURLToPath(import.meta.url));
export const BUNDLED = basename(here) === 'bundle';

/** The directory holding package.json. */
export const PROJECT_ROOT = BUNDLED ? resolve(here, '..', '..') : resolve(here, '..', '..', '..');

/** An entry point's file in this build: its tsc output path (under dist/src/) or its name in the bundle. */
function entry(tscPath: string, bundleName: string): string {
  return BUNDLED ? join(here, bundleName) : join(PROJECT_ROOT, 'dist', 'src', tscPath);
}

/** The mvm command. */
export const CLI_ENTRY = entry('cli/index.js', 'mvm.js');
/** The worker thread that runs one vCPU. */
export const VCPU_THREAD_ENTRY = entry('vmm/vcpu-thread.js', 'vcpu-thread.js');
/** The worker thread that serves a VM's raw virtio-blk drives. */
export const BLOCK_THREAD_ENTRY = entry('vmm/block-thread.js', 'block-thread.js');
/** The helper VM's daemon (run inside the helper). */
export const HELPER_DAEMON_ENTRY = entry('helper/daemon.js', 'helper-daemon.js');
/** A warm spare process of the helper daemon. */
export const HELPER_SPARE_ENTRY = entry('helper/spare.js', 'helper-spare.js');
/** The koffi side of the VM-exit round-trip benchmark. */
export const KOFFI_EXIT_LOOP_ENTRY = entry('bench/exit-loop/koffi-loop.js', 'bench-koffi-loop.js');
