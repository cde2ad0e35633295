// The VM-exit round-trip benchmark: the koffi loop (koffi-loop.ts) against
// the C loop (firmware/bench/exit-loop.c), as separate processes started
// alternately, so noise from other work on the machine hits both alike.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { KOFFI_EXIT_LOOP_ENTRY } from '../../runtime/build-layout.js';
import { projectRoot } from '../../runtime/paths.js';
import { inHelper, runForResult } from '../harness.js';
import { summarize, ratioOfMedians, type Summary } from '../stats.js';
import { microsecondsPerExit, parseLoopResult } from './loop-result.js';

/** Built by `make firmware/out/bench/exit-loop` (a dependency of `make bench-boot`). */
export const C_LOOP_RELATIVE = 'firmware/out/bench/exit-loop';
const KOFFI_LOOP = KOFFI_EXIT_LOOP_ENTRY;

export interface ExitLoopPlan {
  /** 'host': this machine's /dev/kvm; 'helper': the helper VM's (nested) one. */
  where: 'host' | 'helper';
  /** Exits per timed round. */
  exits: number;
  /** Timed rounds per process. */
  rounds: number;
  /** How many C + koffi process pairs. */
  pairs: number;
}

export interface ExitLoopResult {
  where: 'host' | 'helper';
  exitsPerRound: number;
  /** µs per exit, one sample per round. */
  c: Summary;
  koffi: Summary;
  /** koffi median / C median. */
  koffiOverC: number;
}

export function cLoopPath(): string {
  return path.join(projectRoot(), C_LOOP_RELATIVE);
}

export async function runExitLoopSuite(plan: ExitLoopPlan): Promise<ExitLoopResult> {
  const cLoop = cLoopPath();
  if (!existsSync(cLoop)) throw new Error(`${cLoop} is missing: build it with \`make ${C_LOOP_RELATIVE}\``);
  const args = [String(plan.exits), String(plan.rounds)];
  const contenders = {
    c: [cLoop, args] as [string, string[]],
    koffi: [process.execPath, [KOFFI_LOOP, ...args]] as [string, string[]],
  };
  const samples: Record<'c' | 'koffi', number[]> = { c: [], koffi: [] };
  for (let pair = 0; pair < plan.pairs; pair++) {
    // Alternate which goes first, so neither always follows the other's cache and frequency effects.
    const order: Array<'c' | 'koffi'> = pair % 2 === 0 ? ['c', 'koffi'] : ['koffi', 'c'];
    for (const loop of order) {
      const [command, argv] = contenders[loop];
      const [cmd, cmdArgs] = plan.where === 'helper' ? inHelper(command, argv) : [command, argv];
      const result = parseLoopResult(await runForResult(`${loop} exit loop (${plan.where})`, cmd, cmdArgs));
      if (result.loop !== loop || result.exits !== plan.exits)
        throw new Error(`the ${loop} exit loop reported ${result.loop} with ${result.exits} exits`);
      samples[loop].push(...microsecondsPerExit(result));
    }
  }
  const c = summarize(samples.c);
  const koffi = summarize(samples.koffi);
  return { where: plan.where, exitsPerRound: plan.exits, c, koffi, koffiOverC: ratioOfMedians(koffi, c) };
}
