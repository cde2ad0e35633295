// `mvm bench report [--out docs/benchmarks.md]`: turns the results of `mvm
// bench boot`, `memory`, `disk` and `density` (JSON under images/out/bench/)
// into docs-ready Markdown with SVG charts beside it and the claims table.
// Measures nothing itself; a missing result is named in the report.
import * as path from 'node:path';
import type { Command } from 'commander';
import { readInputs } from '../../../bench/report/inputs.js';
import { hostFacts } from '../../../bench/report/document.js';
import { writeReport } from '../../../bench/report/write.js';
import { detectHostKvm } from '../../../helper/client.js';
import { UserError } from '../../../errors.js';
import { asBenchAction, say, shownPath } from './common.js';

interface ReportOptions {
  out: string;
  results: string;
  note?: string;
}

async function benchReport(options: ReportOptions): Promise<void> {
  const out = path.resolve(options.out);
  if (path.extname(out) !== '.md') throw new UserError(`--out must name a Markdown file (.md), not ${options.out}`, 2);
  const inputs = readInputs(options.results);
  if (Object.keys(inputs.files).length === 0) {
    throw new UserError(
      `no benchmark results in ${options.results} (run mvm bench boot, memory, disk, density and guest-disk first): ${inputs.missing.map((m) => `${m.benchmark}: ${m.why}`).join('; ')}`,
      1,
    );
  }
  for (const m of inputs.missing) say(`report: without ${m.benchmark}: ${m.why}`);
  const written = writeReport(out, inputs, hostFacts(detectHostKvm().kind), new Date(), options.note);
  process.stdout.write(`report: ${shownPath(written.markdown)}\n${written.charts.map((c) => `chart:  ${shownPath(c)}\n`).join('')}`);
}

export function register(bench: Command): void {
  bench
    .command('report')
    .description('write the benchmark results (boot, memory, disk, density) as Markdown with SVG charts and a claims table')
    .option('--out <file>', 'the Markdown file; charts go to a folder of the same name beside it', 'docs/benchmarks.md')
    .option('--results <dir>', 'where the benchmarks wrote their JSON', 'images/out/bench')
    .option('--note <text>', 'a note for the reader under "Where this ran" (e.g. other load on the machine during the run)')
    .action((options: ReportOptions) => asBenchAction(() => benchReport(options)));
}
