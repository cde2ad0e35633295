// Where a side-by-side benchmark ran, for its report: the issue asks that
// every side runs in the same environment in the same run, and that the
// report says which (inside mvm's helper VM on a host like this PVM one, or
// natively on a host with hardware KVM).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { insideHelper } from '../../helper/host-kvm.js';

export interface BenchEnvironment {
  /** 'helper': inside mvm's helper VM (QEMU TCG with nested AMD-V); 'native': directly on this host's KVM. */
  where: 'helper' | 'native';
  /** One sentence for reports. */
  description: string;
  kernelRelease: string;
  cpus: number;
  memTotalMiB: number;
}

const KiB_PER_MiB = 1024;

function memTotalMiB(): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Math.round(Number(m[1]) / KiB_PER_MiB) : Math.round(os.totalmem() / (KiB_PER_MiB * KiB_PER_MiB));
}

export function benchEnvironment(): BenchEnvironment {
  const where = insideHelper() ? 'helper' : 'native';
  const cpus = os.cpus().length;
  const memory = memTotalMiB();
  const description =
    where === 'helper'
      ? `inside mvm's helper VM (QEMU with software-emulated CPUs and nested AMD-V, ${cpus} vCPU, ${memory} MiB), because this host's KVM cannot run Linux guests: all sides share that VM's KVM and kernel`
      : `natively on this host (${cpus} CPUs, ${memory} MiB, its own KVM)`;
  return { where, description, kernelRelease: os.release(), cpus, memTotalMiB: memory };
}
