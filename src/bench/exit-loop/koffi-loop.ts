// The koffi side of the VM-exit round-trip benchmark, a process of its own so
// it is measured exactly like the C program (firmware/bench/exit-loop.c):
// same arguments, same JSON line on stdout.
// Usage: node dist/src/bench/exit-loop/koffi-loop.js EXITS ROUNDS
import { createExitLoopGuest, runExits } from './guest.js';
import { formatLoopResult, parseLoopArguments, WARMUP_EXITS } from './loop-result.js';

const { exits, rounds } = parseLoopArguments(process.argv.slice(2));
const { vcpu } = createExitLoopGuest();
// Untimed first, so JIT compilation of the hot path is not counted.
runExits(vcpu, WARMUP_EXITS);
const roundNs: number[] = [];
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  runExits(vcpu, exits);
  roundNs.push(Number(process.hrtime.bigint() - start));
}
process.stdout.write(`${formatLoopResult({ loop: 'koffi', exits, roundNs })}\n`);
