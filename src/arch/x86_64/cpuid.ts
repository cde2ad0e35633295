// CPUID as each vCPU sees it: what KVM_GET_SUPPORTED_CPUID offers, with the
// topology made consistent with the VM's N vCPUs and the features the VMM
// does not back (power management, thermal control, nested VMX/SVM, a PMU)
// hidden. Pure function; the KVM layer passes the result to KVM_SET_CPUID2.
//
// The topology presented is one package of N single-threaded cores with
// APIC id = vCPU index. Bit positions: Intel SDM vol. 2A, "CPUID"; AMD
// APM vol. 3, appendix E; KVM's flags: Documentation/virt/kvm/api.rst.
import type { CpuidEntry } from '../../kvm/structs.js';
import { BootError } from './boot-error.js';

export interface CpuidOptions {
  /**
   * Advertise the TSC-deadline LAPIC timer (leaf 1 ECX[24]). KVM emulates it
   * in its in-kernel LAPIC but KVM_GET_SUPPORTED_CPUID does not report it;
   * set this when KVM_CHECK_EXTENSION(KVM_CAP_TSC_DEADLINE_TIMER) is true.
   * Linux then prefers it over the periodic/one-shot LAPIC timer.
   */
  readonly tscDeadlineTimer?: boolean;
}

/** kvm_cpuid_entry2.flags: the entry depends on ECX (the subleaf index). */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;

// ---- Leaves -----------------------------------------------------------------
export const LEAF_VENDOR = 0x0;
export const LEAF_FEATURES = 0x1;
export const LEAF_CACHE_PARAMS = 0x4;
export const LEAF_THERMAL_POWER = 0x6;
export const LEAF_PERF_MONITORING = 0xa;
export const LEAF_EXT_TOPOLOGY = 0xb;
export const LEAF_EXT_TOPOLOGY_V2 = 0x1f;
export const LEAF_EXT_FEATURES = 0x8000_0001;
export const LEAF_AMD_ADDRESS_SIZES = 0x8000_0008;
export const LEAF_AMD_CACHE_TOPOLOGY = 0x8000_001d;
export const LEAF_AMD_EXT_APIC_ID = 0x8000_001e;

// ---- Leaf 1 ---------------------------------------------------------------
/** EBX[31:24] initial APIC id; EBX[23:16] addressable logical-processor ids in the package. */
const L1_EBX_APIC_ID_SHIFT = 24;
const L1_EBX_LOGICAL_COUNT_SHIFT = 16;
const L1_EBX_LOGICAL_COUNT_MAX = 0xff;
const L1_EBX_KEEP = 0x0000_ffff; // brand index, CLFLUSH line size
/** ECX bits hidden: MONITOR/MWAIT (3), VMX (5), SMX (6), EST (7), TM2 (8), PDCM (15), DCA (18). */
const L1_ECX_HIDDEN = (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 15) | (1 << 18);
export const L1_ECX_TSC_DEADLINE = 1 << 24;
/** ECX[31]: running under a hypervisor; Linux then looks for KVM's paravirt leaves. */
export const L1_ECX_HYPERVISOR = 0x8000_0000;
/** EDX bits hidden: ACPI thermal control (22), thermal monitor (29), pending break enable (31). */
const L1_EDX_HIDDEN = (1 << 22) | (1 << 29) | 0x8000_0000;
/** EDX[28] HTT: EBX[23:16] is meaningful (more than one logical processor per package). */
export const L1_EDX_HTT = 1 << 28;

// ---- Leaf 4 and AMD 0x8000001d (deterministic cache parameters) -------------
/** EAX[4:0] cache type (0 = no more caches); EAX[7:5] cache level. */
const CACHE_TYPE_MASK = 0x1f;
const CACHE_LEVEL_SHIFT = 5;
const CACHE_LEVEL_MASK = 0x7;
/** EAX[25:14]: logical processors sharing this cache, minus one. */
const CACHE_SHARING_SHIFT = 14;
const CACHE_SHARING_MASK = 0xfff;
/** Leaf 4 EAX[31:26]: addressable core ids in the package, minus one (6 bits). */
const CACHE_CORES_SHIFT = 26;
const CACHE_CORES_MAX = 0x3f;
const CACHE_KEEP = 0x3fff; // type, level, self-initializing, fully associative
/** Caches at this level and below are private to a core; above, shared by the package. */
const LAST_PRIVATE_CACHE_LEVEL = 2;

// ---- Leaf 0xb / 0x1f (extended topology) ------------------------------------
/** ECX[15:8] level type: 0 invalid, 1 SMT, 2 core. */
const TOPOLOGY_LEVEL_SMT = 1;
const TOPOLOGY_LEVEL_CORE = 2;
const TOPOLOGY_LEVEL_TYPE_SHIFT = 8;

// ---- AMD extended leaves ------------------------------------------------------
/** 0x80000001 ECX[1] CmpLegacy: leaf 1's logical count means cores, not threads. */
export const EXT_ECX_CMP_LEGACY = 1 << 1;
/** 0x80000001 ECX[2] SVM: hidden like VMX in leaf 1; mvm offers no nested virtualization. */
export const EXT_ECX_SVM = 1 << 2;
/** 0x80000008 ECX[7:0] NC (cores − 1), ECX[15:12] ApicIdCoreIdSize. */
const AMD_NC_MASK = 0xff;
const AMD_APIC_ID_SIZE_SHIFT = 12;
const AMD_ADDRESS_ECX_KEEP = ~0xf0ff >>> 0;

/** APIC ids are 8 bits in leaf 1 and 0xff is broadcast. */
export const CPUID_MAX_CPUS = 254;

type Vendor = 'intel' | 'amd' | 'other';

function vendorOf(entries: readonly CpuidEntry[]): Vendor {
  const leaf0 = entries.find((e) => e.function === LEAF_VENDOR);
  if (!leaf0) return 'other';
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  [leaf0.ebx, leaf0.edx, leaf0.ecx].forEach((reg, i) => {
    view.setUint32(i * 4, reg >>> 0, true);
  });
  const name = String.fromCharCode(...bytes);
  if (name === 'GenuineIntel') return 'intel';
  if (name === 'AuthenticAMD' || name === 'HygonGenuine') return 'amd';
  return 'other';
}

/** Smallest s with 2^s >= n: the APIC-id bits the cores of one package need. */
function idBits(n: number): number {
  let bits = 0;
  while (1 << bits < n) bits++;
  return bits;
}

function topologyEntries(fn: number, cpuIndex: number, cpuCount: number): CpuidEntry[] {
  const flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return [
    // Subleaf 0, SMT level: one thread per core, so no APIC-id bits.
    { function: fn, index: 0, flags, eax: 0, ebx: 1, ecx: (TOPOLOGY_LEVEL_SMT << TOPOLOGY_LEVEL_TYPE_SHIFT) | 0, edx: cpuIndex },
    // Subleaf 1, core level: N cores in the package.
    {
      function: fn,
      index: 1,
      flags,
      eax: idBits(cpuCount),
      ebx: cpuCount,
      ecx: (TOPOLOGY_LEVEL_CORE << TOPOLOGY_LEVEL_TYPE_SHIFT) | 1,
      edx: cpuIndex,
    },
    // Subleaf 2: level type 0 ends the enumeration.
    { function: fn, index: 2, flags, eax: 0, ebx: 0, ecx: 2, edx: cpuIndex },
  ];
}

/** Rewrites a cache-parameters EAX so sharing matches one package of single-thread cores. */
function cacheEax(eax: number, addressableIds: number, withCoreCount: boolean): number {
  if ((eax & CACHE_TYPE_MASK) === 0) return eax >>> 0;
  const level = (eax >>> CACHE_LEVEL_SHIFT) & CACHE_LEVEL_MASK;
  const sharing = level <= LAST_PRIVATE_CACHE_LEVEL ? 0 : (addressableIds - 1) & CACHE_SHARING_MASK;
  let result = (eax & CACHE_KEEP) | (sharing << CACHE_SHARING_SHIFT);
  if (withCoreCount) result |= Math.min(addressableIds - 1, CACHE_CORES_MAX) << CACHE_CORES_SHIFT;
  return result >>> 0;
}

/** The CPUID entries for vCPU `cpuIndex` of `cpuCount`, derived from KVM's supported set. */
export function filterCpuid(supported: readonly CpuidEntry[], cpuIndex: number, cpuCount: number, options: CpuidOptions = {}): CpuidEntry[] {
  if (!Number.isInteger(cpuCount) || cpuCount < 1 || cpuCount > CPUID_MAX_CPUS) {
    throw new BootError(`${cpuCount} vCPUs cannot be described in CPUID: mvm supports 1 to ${CPUID_MAX_CPUS}`);
  }
  if (!Number.isInteger(cpuIndex) || cpuIndex < 0 || cpuIndex >= cpuCount) {
    throw new RangeError(`vCPU index ${cpuIndex} is outside 0..${cpuCount - 1}`);
  }
  const vendor = vendorOf(supported);
  const addressableIds = 1 << idBits(cpuCount);
  const multi = cpuCount > 1;
  const out: CpuidEntry[] = [];
  const topologyDone = new Set<number>();

  for (const original of supported) {
    const e: CpuidEntry = { ...original };
    switch (e.function) {
      case LEAF_FEATURES:
        e.ebx =
          ((e.ebx & L1_EBX_KEEP) |
            (cpuIndex << L1_EBX_APIC_ID_SHIFT) |
            (Math.min(addressableIds, L1_EBX_LOGICAL_COUNT_MAX) << L1_EBX_LOGICAL_COUNT_SHIFT)) >>>
          0;
        e.ecx = ((e.ecx & ~L1_ECX_HIDDEN & ~L1_ECX_TSC_DEADLINE) | L1_ECX_HYPERVISOR) >>> 0;
        if (options.tscDeadlineTimer) e.ecx = (e.ecx | L1_ECX_TSC_DEADLINE) >>> 0;
        e.edx = ((e.edx & ~L1_EDX_HIDDEN & ~L1_EDX_HTT) | (multi ? L1_EDX_HTT : 0)) >>> 0;
        break;
      case LEAF_CACHE_PARAMS:
        e.eax = cacheEax(e.eax, addressableIds, true);
        break;
      case LEAF_THERMAL_POWER:
      case LEAF_PERF_MONITORING:
        // No turbo, APERF/MPERF, HWP or thermal sensors; no virtual PMU configured.
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case LEAF_EXT_TOPOLOGY:
      case LEAF_EXT_TOPOLOGY_V2:
        // Replaced as a whole: one set of subleaves per leaf, whatever KVM listed.
        if (!topologyDone.has(e.function)) out.push(...topologyEntries(e.function, cpuIndex, cpuCount));
        topologyDone.add(e.function);
        continue;
      case LEAF_EXT_FEATURES:
        e.ecx = (e.ecx & ~EXT_ECX_SVM) >>> 0;
        if (vendor === 'amd') e.ecx = ((e.ecx & ~EXT_ECX_CMP_LEGACY) | (multi ? EXT_ECX_CMP_LEGACY : 0)) >>> 0;
        break;
      case LEAF_AMD_ADDRESS_SIZES:
        if (vendor === 'amd') {
          e.ecx = ((e.ecx & AMD_ADDRESS_ECX_KEEP) | (idBits(cpuCount) << AMD_APIC_ID_SIZE_SHIFT) | ((cpuCount - 1) & AMD_NC_MASK)) >>> 0;
        }
        break;
      case LEAF_AMD_CACHE_TOPOLOGY:
        if (vendor === 'amd') e.eax = cacheEax(e.eax, addressableIds, false);
        break;
      case LEAF_AMD_EXT_APIC_ID:
        if (vendor === 'amd') {
          // Extended APIC id; compute unit id = vCPU index with one thread each; one node.
          e.eax = cpuIndex;
          e.ebx = cpuIndex;
          e.ecx = 0;
          e.edx = 0;
        }
        break;
      default:
        break;
    }
    out.push(e);
  }
  return out;
}
