// `mvm doctor`: what this host can do. Prints the kind of KVM, whether Linux
// guests need the helper VM, and the helper's image and running state. Exits
// 0 unless mvm cannot run guests here at all.
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { describeKvmKind, decideHelper, detectHostKvm, helperPolicy, insideHelper } from '../../helper/host-kvm.js';
import { findHelperImage } from '../../helper/lifecycle.js';
import { readHelperSettings } from '../../helper/settings.js';
import { runtimeRoot } from '../../runtime/paths.js';
import { UserError } from '../../errors.js';
import { helperStatusLines } from './helper.js';

/** Exit status when this host can run no Linux guest at all. */
const EXIT_CANNOT_RUN_GUESTS = 3;

function qemuVersion(qemu: string): string | null {
  const result = spawnSync(qemu, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return null;
  return /version (\S+)/.exec(result.stdout)?.[1] ?? 'unknown version';
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description("show this host's KVM, whether the helper VM is needed, and its state")
    .action(async () => {
      const kvm = detectHostKvm();
      const policy = helperPolicy();
      const settings = readHelperSettings();
      const out: string[] = [];
      out.push(`KVM: ${describeKvmKind(kvm.kind)}${kvm.cpuFeature ? `, CPU flag ${kvm.cpuFeature}` : ''}`);
      if (kvm.absentBecause) out.push(`why: ${kvm.absentBecause}`);
      if (kvm.kind !== 'absent' && !kvm.accessible) {
        out.push('/dev/kvm: no read/write permission for this user (add yourself to the kvm group)');
      }
      if (insideHelper()) {
        out.push('running inside the helper VM: guests run here directly');
        process.stdout.write(`${out.join('\n')}\n`);
        return;
      }

      let needsHelper = false;
      let blocked: string | null = null;
      try {
        needsHelper = decideHelper(kvm, policy, false).useHelper;
      } catch (err) {
        blocked = err instanceof UserError ? err.message : String(err);
      }
      let guests: string;
      if (blocked !== null) guests = blocked;
      else if (needsHelper) guests = 'run inside the helper VM';
      else if (kvm.kind === 'hardware') guests = 'run directly on this host';
      // MVM_HELPER=never on a KVM that cannot run them: mvm tries anyway.
      else guests = "run directly on this host's KVM, which fails for unmodified Linux (only guests that avoid what it cannot emulate run)";
      out.push(`Linux guests: ${guests} (MVM_HELPER=${policy})`);

      const qemu = qemuVersion(settings.qemu);
      const image = findHelperImage(settings);
      out.push(`QEMU: ${qemu ? `${settings.qemu} ${qemu}` : `${settings.qemu} not found (make deps installs qemu-system-x86)`}`);
      out.push(`helper image: ${image ? `built (${settings.imageDir}, key ${image.key})` : `not built (make helper-image, or built on first use)`}`);
      out.push(...(await helperStatusLines()));
      out.push(`runtime directory: ${runtimeRoot()}`);
      process.stdout.write(`${out.join('\n')}\n`);

      const kvmUsableDirectly = kvm.kind === 'hardware' && kvm.accessible;
      const helperUsable = qemu !== null && blocked === null;
      if (!kvmUsableDirectly && !(needsHelper && helperUsable)) {
        process.stderr.write('mvm: this host cannot run Linux guests (see above)\n');
        process.exitCode = EXIT_CANNOT_RUN_GUESTS;
      }
    });
}
