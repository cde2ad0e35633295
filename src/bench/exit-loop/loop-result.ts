// What one exit-loop process (C or koffi) reports: its arguments and the JSON
// line it prints, checked when read back, since it crosses a process boundary.

/** Untimed exits before the first round, in both loops. */
export const WARMUP_EXITS = 1000;
/** Both loops keep at most this many rounds (the C program sizes an array by it). */
export const MAX_ROUNDS = 100;
const MAX_EXITS = 100_000_000;

export interface LoopResult {
  loop: 'c' | 'koffi';
  exits: number;
  /** Nanoseconds each round of `exits` exits took. */
  roundNs: number[];
}

function count(text: string | undefined, what: string, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`${what} must be a whole number from 1 to ${max}, not "${text}"`);
  return value;
}

export function parseLoopArguments(argv: readonly string[]): { exits: number; rounds: number } {
  if (argv.length !== 2) throw new Error('usage: koffi-loop EXITS ROUNDS');
  return { exits: count(argv[0], 'EXITS', MAX_EXITS), rounds: count(argv[1], 'ROUNDS', MAX_ROUNDS) };
}

export function formatLoopResult(result: LoopResult): string {
  return JSON.stringify(result);
}

/** The last line of a loop's stdout, validated. */
export function parseLoopResult(stdout: string): LoopResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`exit loop printed no result line (got "${line.slice(0, 200)}")`);
  }
  const r = value as Partial<LoopResult>;
  if (
    (r.loop !== 'c' && r.loop !== 'koffi') ||
    !Number.isInteger(r.exits) ||
    (r.exits ?? 0) < 1 ||
    !Array.isArray(r.roundNs) ||
    r.roundNs.length === 0 ||
    !r.roundNs.every((n) => typeof n === 'number' && n > 0)
  ) {
    throw new Error(`exit loop result is malformed: ${line.slice(0, 200)}`);
  }
  return r as LoopResult;
}

/** Microseconds per exit, one value per round. */
export function microsecondsPerExit(result: LoopResult): number[] {
  return result.roundNs.map((ns) => ns / result.exits / 1000);
}
