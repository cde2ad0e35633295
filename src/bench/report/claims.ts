// The claims table: what is commonly said about VMs against containers, the
// value measured in this run beside each, and what the measurement says
// about the claim (including where this environment bends the numbers).
import { MIN_AVAILABLE_FRACTION } from '../density/stop-rule.js';
import { STOP_LABELS } from '../density/table.js';
import type { SideName } from '../sides/side.js';
import type { ReportInputs } from './inputs.js';
import { bytes, mib, ms, ratio } from './markdown-format.js';

export interface ClaimRow {
  claim: string;
  measured: string;
  comment: string;
}

const MiB = 1024 * 1024;
const MINUTE_MS = 60_000;
/** Guests that touched less than this share of their RAM show it was not reserved up front. */
const LAZY_SHARE = 0.9;

function notRun(benchmark: string): string {
  return `not measured in this run (\`mvm bench ${benchmark}\`)`;
}

function bootOf(inputs: ReportInputs, side: SideName) {
  return inputs.boot?.boot?.sides.find((s) => s.side === side);
}

function bootClaim(inputs: ReportInputs, emulated: boolean): ClaimRow {
  const claim = 'A VM boots in minutes, a container in milliseconds';
  const mvm = bootOf(inputs, 'mvm');
  const qemu = bootOf(inputs, 'qemu');
  const runc = bootOf(inputs, 'runc');
  if (!mvm && !qemu && !runc) return { claim, measured: notRun('boot'), comment: '' };
  const parts = [
    mvm && `mvm ${ms(mvm.markerMs.median)}`,
    qemu && `QEMU microvm ${ms(qemu.markerMs.median)}`,
    runc && `runc ${ms(runc.markerMs.median)}`,
  ].filter(Boolean);
  const measured = `p50 spawn → marker: ${parts.join(', ')}${mvm && runc ? ` (mvm/runc ${ratio(mvm.markerMs.median / runc.markerMs.median)})` : ''}`;
  const vm = mvm ?? qemu;
  const vmPart = vm
    ? `${vm.markerMs.median < MINUTE_MS ? 'Not minutes: ' : ''}a minimal microVM (${vm.label}) reached its init's marker in ${ms(vm.markerMs.median)}${emulated ? ' here, with every guest instruction emulated in software' : ''}; minutes belong to full distributions with firmware and services. `
    : '';
  const containerPart = runc
    ? `The container took ${ms(runc.markerMs.median)}${emulated ? ' in the same emulated VM (inflated too, but it boots no kernel)' : ''}. `
    : '';
  const comment = `${vmPart}${containerPart}For scale: Firecracker publishes ≤ 125 ms to init on hardware, and \`runc run\` of a busybox rootfs printing a marker took 34 ms on this kind of machine outside any VM.`;
  return { claim, measured, comment };
}

function diskClaim(inputs: ReportInputs): ClaimRow {
  const claim = 'A VM image is gigabytes, a container layer megabytes';
  const disk = inputs.disk;
  if (!disk) return { claim, measured: notRun('disk'), comment: '' };
  const of = (kind: string) => disk.sides.find((s) => s.kind === kind && s.unavailable === undefined);
  const overlay = of('qcow2-overlay');
  const copy = of('full-copy');
  const upper = of('overlayfs');
  const parts = [
    `base: ${bytes(disk.base.virtualBytes)} virtual disk, ${bytes(disk.base.qcow2Allocated)} as qcow2, rootfs files ${bytes(disk.base.treeAllocated)}`,
    overlay &&
      `per VM (qcow2 overlay): ${bytes(overlay.allocatedBefore!.median)} new, ${bytes(overlay.allocatedAfter!.median)} after writing ${disk.writeBytes / MiB} MiB`,
    upper &&
      `per container (overlayfs upper): ${bytes(upper.allocatedBefore!.median)} new, ${bytes(upper.allocatedAfter!.median)} after the same write`,
    copy && `per VM as a full copy: ${bytes(copy.allocatedAfter!.median)}`,
  ].filter(Boolean);
  return {
    claim,
    measured: parts.join('; '),
    comment:
      "The image size is the root filesystem's, not the VM's: the same busybox rootfs is megabytes as a disk image or as files. Per instance, a copy-on-write qcow2 overlay costs about what an overlayfs upper dir costs (both hold only what the instance writes, plus qcow2's 64 KiB-cluster metadata); only full copies cost the whole virtual disk per instance.",
  };
}

function densityClaim(inputs: ReportInputs): ClaimRow {
  const claim = 'Tens of VMs but thousands of containers per host';
  const density = inputs.density;
  if (!density) return { claim, measured: notRun('density'), comment: '' };
  const measured = density.sides
    .filter((s) => s.unavailable === undefined)
    .map((s) => {
      const perGiB = s.instancesPerGiB !== undefined ? `, ${s.instancesPerGiB.toFixed(1)} per GiB` : '';
      return `${s.label}: ${s.reached} up, stopped by ${s.stop ? STOP_LABELS[s.stop.reason] : '?'}${perGiB}`;
    })
    .join('; ');
  const capped = density.sides.some((s) => s.stop?.reason === 'cap' || s.stop?.reason === 'budget');
  const memGiB = density.memTotalBytes / 1024 ** 3;
  const slowed = density.sides.filter((s) => s.stop?.reason === 'boot-time').map((s) => s.label);
  const saturation =
    slowed.length > 0 ? `${slowed.join(' and ')} stopped because boot time doubled (the CPUs saturated) before memory ran out. ` : '';
  const estimates = density.sides
    .filter((s) => s.bytesPerInstance !== undefined && s.memAvailableBeforeBytes !== undefined)
    .map((s) => {
      const room = s.memAvailableBeforeBytes! - MIN_AVAILABLE_FRACTION * density.memTotalBytes;
      return `${Math.max(0, Math.floor(room / s.bytesPerInstance!))} ${s.label}`;
    });
  const estimate =
    estimates.length > 0
      ? `. Memory-bound estimate for this ${memGiB.toFixed(1)} GiB machine (its MemAvailable above the 10 % floor ÷ memory per instance; not measured): ${estimates.join(', ')}`
      : '';
  return {
    claim,
    measured: `${measured} — in ${memGiB.toFixed(1)} GiB${estimate}`,
    comment: `${densityRatio(density)}${capped ? "Where a side stopped at the cap or the time budget, that is a chosen limit, not the machine's: the per-GiB figure is the better guide. " : ''}${saturation}Scaling per GiB to a bigger host is an estimate, not a measurement.`,
  };
}

/** How many times more containers than mvm VMs fit in a GiB, when both were measured. */
function densityRatio(density: NonNullable<ReportInputs['density']>): string {
  const mvm = density.sides.find((s) => s.side === 'mvm')?.instancesPerGiB;
  const runc = density.sides.find((s) => s.side === 'runc')?.instancesPerGiB;
  if (mvm === undefined || runc === undefined) return '';
  return `Per GiB, ${ratio(runc / mvm)} as many idle containers as idle mvm VMs fit: each VM carries its own kernel and memory. `;
}

function allocationClaim(inputs: ReportInputs): ClaimRow {
  const claim = 'VMs reserve their RAM up front; containers share';
  const memory = inputs.memory;
  if (!memory) return { claim, measured: notRun('memory'), comment: '' };
  const vms = memory.sides.filter((s) => s.guestRssMiB !== undefined);
  const lazy = vms.length > 0 && vms.every((s) => s.guestRssMiB!.median < LAZY_SHARE * memory.guestMemoryMiB);
  const parts = memory.sides.map((s) =>
    s.guestRssMiB
      ? `${s.label}: ${mib(s.guestRssMiB.median)} of ${memory.guestMemoryMiB} MiB guest RAM touched, PSS ${mib(s.pssMiB.median)}`
      : `${s.label}: PSS ${mib(s.pssMiB.median)}`,
  );
  return {
    claim,
    measured: parts.join('; '),
    comment: `${lazy ? `Guest RAM (${memory.guestMemoryMiB} MiB here) is a limit, not a reservation: mvm and QEMU map it lazily and the host backs only the pages the guest has touched.` : `These guests touched most of their ${memory.guestMemoryMiB} MiB.`} Touched guest memory is not given back while the VM runs (no balloon), and each guest keeps its own page cache, while containers share the host's.`,
  };
}

function isolationClaim(inputs: ReportInputs): ClaimRow {
  const mvmMem = inputs.memory?.sides.find((s) => s.side === 'mvm');
  const runcMem = inputs.memory?.sides.find((s) => s.side === 'runc');
  const cost =
    mvmMem && runcMem ? `; its price here: ${mib(mvmMem.pssMiB.median - runcMem.pssMiB.median)} more memory per instance than a container` : '';
  return {
    claim: 'VMs isolate with a separate kernel, containers share the host kernel',
    measured: `By construction, not by measurement: every mvm/QEMU instance boots its own kernel (images/out/vmlinux) behind KVM; every runc container runs on the one kernel that runs it, in namespaces and cgroups${cost}`,
    comment: 'The kernel boundary is the isolation difference; the boot and memory rows above are what it costs.',
  };
}

export function claimRows(inputs: ReportInputs, emulated: boolean): ClaimRow[] {
  return [bootClaim(inputs, emulated), diskClaim(inputs), densityClaim(inputs), allocationClaim(inputs), isolationClaim(inputs)];
}
