// The selected VM up close: sparklines of its CPU % and exits/s over the
// last minutes (one column per poll, newest on the right), and a line of
// facts — vCPUs, memory, pid, where the exits go — or why it is not running.
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { sparkline } from './sparkline.js';
import type { VmView } from './stats-source.js';

/** Border plus three lines: two sparklines and the facts line. */
export const HISTORY_PANEL_HEIGHT = 5;
/** Exit reasons shown in the facts line, busiest first; the rest would not fit. */
const TOP_EXIT_REASONS = 4;
const PERCENT = 100;
/** CPU % is drawn against one busy core, so an idle VM looks idle; a busier one scales to its peak. */
const ONE_CORE_PERCENT = 100;

/** "label  ▁▂▅█  now 12.3  max 45.0", fitted to `width`. */
function seriesLine(label: string, values: readonly number[], width: number, format: (n: number) => string, ceiling?: number): string {
  const now = values.length > 0 ? format(values[values.length - 1]!) : '-';
  const max = values.length > 0 ? format(Math.max(...values)) : '-';
  const head = label.padEnd(8);
  const tail = `  now ${now.padStart(6)}  max ${max.padStart(6)}`;
  const graphWidth = Math.max(0, width - head.length - tail.length);
  return head + sparkline(values, graphWidth, ceiling) + tail;
}

function factsLine(view: VmView): string {
  if (view.info === null) {
    return `${view.state}${view.reason ? `: ${view.reason}` : ''}`;
  }
  const info = view.info;
  const facts = [`vcpus ${info.cpus}`, `memory ${formatBytes(info.memoryBytes)}`, `pid ${info.pid}`];
  const byReason = Object.entries(view.stats?.exits.byReason ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = byReason.reduce((sum, [, n]) => sum + n, 0);
  if (total > 0) {
    const shares = byReason.slice(0, TOP_EXIT_REASONS).map(([reason, n]) => `${reason} ${Math.round((n / total) * PERCENT)}%`);
    facts.push(`exits ${formatCount(total)}: ${shares.join(' ')}`);
  }
  return facts.join(', ');
}

/** The panel's text for `view` in a box `width` columns wide (no view: a hint). */
export function historyLines(view: VmView | undefined, width: number): string[] {
  if (!view) return ['', 'select a VM with ↑/↓'];
  return [
    seriesLine('CPU %', view.cpuHistory, width, formatPercent, Math.max(ONE_CORE_PERCENT, ...view.cpuHistory)),
    seriesLine('exits/s', view.exitsHistory, width, formatCount),
    factsLine(view),
  ];
}

export class HistoryPanel {
  readonly box: Widgets.BoxElement;

  constructor(parent: Widgets.Screen, options: { bottom: number }) {
    this.box = blessed.box({
      parent,
      bottom: options.bottom,
      left: 0,
      width: '100%',
      height: HISTORY_PANEL_HEIGHT,
      border: { type: 'line' },
      label: ' history ',
      tags: false,
    });
  }

  update(view: VmView | undefined): void {
    const width = Number(this.box.width) - 2;
    this.box.setLabel(view ? ` ${view.name}: history ` : ' history ');
    this.box.setContent(
      historyLines(view, width)
        .map((line) => [...line].slice(0, width).join(''))
        .join('\n'),
    );
  }
}
