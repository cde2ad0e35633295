// Whether this host gives a vCPU the CPU a snapshot's guest was running on.
// A guest keeps using the features it found at boot (AVX, XSAVE sizes, the
// TSC deadline timer…): restored onto a CPU that lacks one, it would fault or
// misbehave much later, far from the cause. So the snapshot records its boot
// vCPU's CPUID and a restore compares it leaf by leaf, refusing with the first
// difference named.
import type { CpuidEntry } from '../kvm/structs.js';
import { SnapshotError } from './snapshot-error.js';

const REGISTERS = ['eax', 'ebx', 'ecx', 'edx'] as const;
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const leaf = (e: CpuidEntry): string => `${hex(e.function)}.${e.index}`;

/** Throws SnapshotError naming the first leaf or register where `here` differs from `saved`. */
export function requireSameCpuid(saved: readonly CpuidEntry[], here: readonly CpuidEntry[]): void {
  const byLeaf = new Map(here.map((e) => [leaf(e), e]));
  for (const s of saved) {
    const h = byLeaf.get(leaf(s));
    if (!h) throw new SnapshotError(`this host's CPU differs from the snapshot's: it has no CPUID leaf ${leaf(s)}`);
    for (const r of REGISTERS) {
      if (h[r] >>> 0 !== s[r] >>> 0)
        throw new SnapshotError(
          `this host's CPU differs from the snapshot's: CPUID leaf ${leaf(s)} ${r} is ${hex(h[r])} here, ${hex(s[r])} in the snapshot`,
        );
    }
    byLeaf.delete(leaf(s));
  }
  const extra = [...byLeaf.keys()][0];
  if (extra !== undefined)
    throw new SnapshotError(`this host's CPU differs from the snapshot's: it has CPUID leaf ${extra}, which the snapshot's had not`);
}
