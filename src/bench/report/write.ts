// Writing the report: the Markdown file and, in a folder named after it
// (docs/benchmarks.md → docs/benchmarks/), one SVG per chart. Charts of an
// earlier report that this one does not draw are removed, so the folder never
// shows a chart the text does not describe.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCharts } from './charts.js';
import { reportMarkdown, type HostFacts } from './document.js';
import type { ReportInputs } from './inputs.js';

/** The charts this module writes, the only files it removes from the folder. */
const CHART_FILES = ['boot-distribution.svg', 'memory-per-instance.svg', 'disk-per-count.svg', 'density-boot.svg'];

export interface WrittenReport {
  markdown: string;
  charts: string[];
}

export function writeReport(out: string, inputs: ReportInputs, host: HostFacts, generated = new Date(), note?: string): WrittenReport {
  const folderName = path.basename(out, path.extname(out));
  const folder = path.join(path.dirname(out), folderName);
  const charts = buildCharts(inputs);
  fs.mkdirSync(folder, { recursive: true });
  for (const stale of CHART_FILES) if (!charts.some((c) => c.name === stale)) fs.rmSync(path.join(folder, stale), { force: true });
  const written = charts.map((c) => {
    const file = path.join(folder, c.name);
    fs.writeFileSync(file, c.svg);
    return file;
  });
  fs.writeFileSync(out, reportMarkdown({ inputs, charts, host, chartFolder: folderName, generated, ...(note ? { note } : {}) }));
  return { markdown: out, charts: written };
}
