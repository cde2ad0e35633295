// The "mvm restore" side: a clone of a template snapshot instead of a boot.
// The template is made once per benchmark process, before the side's first
// instance (mvm run --snapshot-after-boot, with the mvm side's kernel,
// initramfs, memory, vCPUs and command line); every instance is then `mvm run
// --restore TEMPLATE -- CMD`, the guest agent running the same command the
// booted sides run. Its marker is the same line, printed by the same init's
// session: the time to it is what a snapshot saves over a boot. In the
// density benchmark its instances are clones of one snapshot, sharing the
// pages of its memory file they did not write.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_MEMORY_MIB, IDLE_COMMAND, MARKER_COMMAND, mvmRunArgs, type GuestFiles } from '../boot/contenders.js';
import { MVM_CLI } from '../harness.js';
import { guestBootUnavailable } from './guest-files.js';
import { startProcessInstance } from './process-instance.js';
import type { BenchSide } from './side.js';

const MiB = 1024 * 1024;
/** Making the template boots a VM; inside an emulated helper VM that can take minutes. */
const TEMPLATE_TIMEOUT_MS = 600_000;

export function mvmRestoreSide(files: GuestFiles): BenchSide {
  let template: string | undefined;
  let failure: string | undefined;
  const makeTemplate = (): string | null => {
    if (template !== undefined) return null;
    if (failure !== undefined) return failure;
    const root = mkdtempSync(join(tmpdir(), 'mvm-bench-template-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'template');
    const args = mvmRunArgs(files, []).filter((a) => a !== '--timing' && a !== '--');
    const made = spawnSync(process.execPath, [...args, '--snapshot-after-boot', dir], { encoding: 'utf8', timeout: TEMPLATE_TIMEOUT_MS });
    if (made.status !== 0) {
      failure = `making its template failed (${made.status === null ? 'timed out' : `status ${made.status}`}): ${(made.stderr ?? '').trim().split('\n').pop() ?? ''}`;
      return failure;
    }
    template = dir;
    return null;
  };
  return {
    name: 'mvm-restore',
    label: 'mvm restore',
    unavailable: async () => guestBootUnavailable(files) ?? makeTemplate(),
    start: (id, options) =>
      startProcessInstance({
        side: 'mvm-restore',
        id,
        command: process.execPath,
        args: [MVM_CLI, 'run', '--restore', template!, '--', ...(options.workload === 'idle' ? IDLE_COMMAND : MARKER_COMMAND)],
        vmmGuestMemoryBytes: GUEST_MEMORY_MIB * MiB,
      }),
  };
}
