// The dashboard's main panel: one row per VM (NAME STATE CPU% MEM EXITS/s
// DISK R/W NET RX/TX BOOT UPTIME), the selected row highlighted. The text is
// laid out by pure functions (tableLayout, below) so specs can check it
// without a terminal; the class only puts it into a blessed box.
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { fitCell, formatBootMs, formatBytes, formatCount, formatPair, formatPercent, formatUptime, MISSING } from './format.js';
import type { VmView } from './stats-source.js';

interface Column {
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
  /** Narrow terminals drop the lowest first. */
  readonly priority: number;
  readonly cell: (view: VmView) => string;
}

/** Shown for a VMM whose process is there but whose API does not answer. */
export const UNREACHABLE_LABEL = 'unreachable';

/** What the STATE column says: the dashboard's own stop request shows at once. */
export function stateLabel(view: VmView): string {
  if (view.apiError !== null && view.state !== 'starting') return UNREACHABLE_LABEL;
  if (view.stopRequested && (view.state === 'running' || view.state === 'starting')) return 'stopping';
  return view.state;
}

/** Guest RAM the guest has touched + the VMM's own memory: "212M+38M". */
function memoryCell(view: VmView): string {
  const memory = view.stats?.memory;
  return memory ? `${formatBytes(memory.guestTouchedBytes)}+${formatBytes(memory.vmmBytes)}` : MISSING;
}

const COLUMNS: readonly Column[] = [
  { title: 'STATE', width: UNREACHABLE_LABEL.length, align: 'left', priority: 9, cell: stateLabel },
  { title: 'CPU%', width: 6, align: 'right', priority: 8, cell: (v) => formatPercent(v.rates?.cpuPercent) },
  { title: 'MEM', width: 11, align: 'right', priority: 7, cell: memoryCell },
  { title: 'EXITS/s', width: 7, align: 'right', priority: 6, cell: (v) => formatCount(v.rates?.exitsPerSecond) },
  {
    title: 'DISK R/W',
    width: 11,
    align: 'right',
    priority: 4,
    cell: (v) => formatPair(formatBytes(v.rates?.diskReadBytesPerSecond), formatBytes(v.rates?.diskWriteBytesPerSecond)),
  },
  {
    title: 'NET RX/TX',
    width: 11,
    align: 'right',
    priority: 3,
    cell: (v) => formatPair(formatBytes(v.rates?.netRxBytesPerSecond), formatBytes(v.rates?.netTxBytesPerSecond)),
  },
  { title: 'BOOT', width: 8, align: 'right', priority: 2, cell: (v) => formatBootMs(v.info?.bootMs ?? v.stats?.bootMs) },
  { title: 'UPTIME', width: 7, align: 'right', priority: 5, cell: (v) => formatUptime(v.stats?.uptimeMs ?? v.info?.uptimeMs) },
];

const GAP = '  ';
const NAME_TITLE = 'NAME';
/** Names are up to 63 characters; beyond this they are cut with "…" so the numbers stay on screen. */
const NAME_MAX_WIDTH = 24;
const NAME_MIN_WIDTH = 8;
export const EMPTY_MESSAGE = 'no VMs: start one with  mvm run -d --name NAME';

export interface TableLayout {
  readonly header: string;
  /** One line per visible VM, each exactly `width` wide. */
  readonly rows: readonly string[];
  /** Index into `rows` of the selected VM, or -1. */
  readonly selectedRow: number;
  /** Index into the views of rows[0] (the table scrolls to keep the selection visible). */
  readonly firstView: number;
}

/** The columns that fit into `width` next to a name column of `nameWidth`, in display order. */
function fittingColumns(width: number, nameWidth: number): Column[] {
  const kept = [...COLUMNS];
  const total = (): number => nameWidth + kept.reduce((sum, c) => sum + GAP.length + c.width, 0);
  while (kept.length > 0 && total() > width) {
    const lowest = kept.reduce((low, c) => (c.priority < low.priority ? c : low));
    kept.splice(kept.indexOf(lowest), 1);
  }
  return kept;
}

/** Lays the table out for a box `width` columns wide with room for `height` lines (header included). */
export function tableLayout(views: readonly VmView[], selected: number, width: number, height: number): TableLayout {
  const longest = Math.max(NAME_TITLE.length, ...views.map((v) => [...v.name].length));
  const nameWidth = Math.max(Math.min(longest, NAME_MAX_WIDTH), Math.min(NAME_MIN_WIDTH, width));
  const columns = fittingColumns(width, nameWidth);
  const line = (name: string, cells: string[]): string =>
    fitCell([fitCell(name, nameWidth), ...columns.map((c, i) => fitCell(cells[i]!, c.width, c.align))].join(GAP), width);
  const header = line(
    NAME_TITLE,
    columns.map((c) => c.title),
  );
  const capacity = Math.max(0, height - 1);
  const firstView = selected >= capacity ? selected - capacity + 1 : 0;
  const visible = views.slice(firstView, firstView + capacity);
  return {
    header,
    rows: visible.map((v) =>
      line(
        v.name,
        columns.map((c) => c.cell(v)),
      ),
    ),
    selectedRow: selected >= 0 && selected < views.length ? selected - firstView : -1,
    firstView,
  };
}

/** blessed colour tags per state: trouble stands out, finished VMs fade. */
const STATE_STYLE: Readonly<Record<string, string>> = {
  running: 'green-fg',
  starting: 'cyan-fg',
  stopping: 'yellow-fg',
  dead: 'red-fg',
  failed: 'red-fg',
  exited: 'gray-fg',
  [UNREACHABLE_LABEL]: 'magenta-fg',
};

export class VmTablePanel {
  readonly box: Widgets.BoxElement;

  constructor(parent: Widgets.Screen, options: { top: number; bottom: number }) {
    this.box = blessed.box({
      parent,
      top: options.top,
      left: 0,
      width: '100%',
      height: `100%-${options.top + options.bottom}`,
      border: { type: 'line' },
      label: ' VMs ',
      tags: true,
    });
  }

  /** Redraws from the views (call screen.render() afterwards). */
  update(views: readonly VmView[], selected: number): void {
    const width = Number(this.box.width) - 2; // inside the border
    const height = Number(this.box.height) - 2;
    const running = views.filter((v) => v.state === 'running').length;
    this.box.setLabel(` VMs: ${views.length}, ${running} running `);
    const layout = tableLayout(views, selected, width, height);
    const lines = [`{bold}${blessed.escape(layout.header)}{/bold}`];
    if (views.length === 0) {
      lines.push('', blessed.escape(fitCell(EMPTY_MESSAGE, width)));
    }
    layout.rows.forEach((row, i) => {
      const view = views[layout.firstView + i]!;
      const style = STATE_STYLE[stateLabel(view)] ?? 'white-fg';
      const text = `{${style}}${blessed.escape(row)}{/${style}}`;
      lines.push(i === layout.selectedRow ? `{inverse}${text}{/inverse}` : text);
    });
    this.box.setContent(lines.join('\n'));
  }
}
