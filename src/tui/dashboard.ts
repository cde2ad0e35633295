// `mvm top`'s screen: a StatsSource feeds three panels (the VM table, the
// selected VM's history, the status line), keys act on the selected VM. Its
// one promise: however it ends — q, Ctrl-C, a signal, an unexpected error —
// the terminal is handed back as it was found (screen.destroy leaves the
// alternate screen, shows the cursor and turns raw mode off).
import type { ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import blessed from 'blessed';
import type { Widgets } from 'blessed';
import { isFinalShownState } from '../fleet/liveness.js';
import { HISTORY_PANEL_HEIGHT, HistoryPanel } from './history-panel.js';
import type { StatsSource, VmView } from './stats-source.js';
import { StatusLine } from './status-line.js';
import { lendTerminal } from './terminal-handover.js';
import { VmTablePanel } from './vm-table.js';

/** Signals that end the dashboard; each exits with 128 + its number, as a shell reports it. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
/** While a console is attached these belong to it: the terminal sends them to the whole foreground group. */
const CONSOLE_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT']);
const STATUS_LINE_HEIGHT = 1;
const EXIT_SIGNALLED_BASE = 128;
const EXIT_INTERNAL_ERROR = 70;
const MS_PER_SECOND = 1000;

export interface DashboardOptions {
  readonly source: StatsSource;
  /** The mvm CLI entry of this build (build-layout.ts): `c` runs `mvm console NAME` with it. */
  readonly cliPath: string;
  /** One line for an error, the way the CLI prints it (src/cli/errors.ts decides; the screen only shows it). */
  readonly describe: (err: unknown) => string;
}

export class Dashboard {
  private readonly screen: Widgets.Screen;
  private readonly table: VmTablePanel;
  private readonly history: HistoryPanel;
  private readonly status: StatusLine;
  private views: readonly VmView[] = [];
  private selected = 0;
  /** The selection follows the VM, not the row, when VMs come and go. */
  private selectedName: string | null = null;
  /** The `mvm console` child while one has the terminal. */
  private consoleChild: ChildProcess | null = null;
  private closed = false;
  private finish: (status: number) => void = () => {};
  private readonly signalHandlers = new Map<string, () => void>();
  private readonly onUncaught = (err: unknown): void => this.fail(err);

  constructor(private readonly options: DashboardOptions) {
    this.screen = blessed.screen({
      smartCSR: true,
      title: 'mvm top',
      warnings: false,
      autoPadding: true,
      fullUnicode: true,
      // The sparklines' block characters are UTF-8: without this, terminfo entries that do not declare
      // U8 (screen, tmux) would get them replaced by ASCII look-alikes.
      forceUnicode: true,
    });
    this.table = new VmTablePanel(this.screen, { top: 0, bottom: HISTORY_PANEL_HEIGHT + STATUS_LINE_HEIGHT });
    this.history = new HistoryPanel(this.screen, { bottom: STATUS_LINE_HEIGHT });
    this.status = new StatusLine(this.screen);
    this.status.show(`polling every ${options.source.intervalMs / MS_PER_SECOND} s`);
  }

  /** Shows the dashboard until the user quits; resolves with the exit status for the process. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    this.installExitHandlers();
    this.bindKeys();
    this.screen.on('resize', () => this.render());
    this.render();
    this.options.source.start(
      (views) => this.update(views),
      (err) => this.report(`cannot list VMs: ${this.options.describe(err)}`),
    );
    return done;
  }

  private bindKeys(): void {
    this.screen.key(['up', 'k'], () => this.move(-1));
    this.screen.key(['down', 'j'], () => this.move(1));
    this.screen.key(['s'], () => this.stopSelected());
    this.screen.key(['c'], () => this.attachConsole());
    this.screen.key(['q', 'C-c'], () => this.close(0));
  }

  private installExitHandlers(): void {
    for (const signal of ENDING_SIGNALS) {
      const handler = (): void => {
        if (this.consoleChild !== null && CONSOLE_SIGNALS.has(signal)) return;
        this.close(EXIT_SIGNALLED_BASE + osConstants.signals[signal]);
      };
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
    process.on('uncaughtException', this.onUncaught);
    process.on('unhandledRejection', this.onUncaught);
  }

  private update(views: readonly VmView[]): void {
    this.views = views;
    const byName = this.selectedName === null ? -1 : views.findIndex((v) => v.name === this.selectedName);
    this.selected = byName >= 0 ? byName : Math.min(this.selected, Math.max(0, views.length - 1));
    this.selectedName = views[this.selected]?.name ?? null;
    this.render();
  }

  private selectedView(): VmView | undefined {
    return this.views[this.selected];
  }

  private move(delta: number): void {
    if (this.views.length === 0) return;
    this.selected = Math.max(0, Math.min(this.views.length - 1, this.selected + delta));
    this.selectedName = this.views[this.selected]!.name;
    this.render();
  }

  private stopSelected(): void {
    const view = this.selectedView();
    if (!view) {
      this.report('no VM selected');
      return;
    }
    this.report(`asking ${view.name} to stop…`);
    this.options.source.requestStop(view.name).then(
      ({ sent, message }) => {
        // Show the stop at once rather than at the next poll.
        if (sent) this.views = this.views.map((v) => (v.name === view.name ? { ...v, stopRequested: true } : v));
        this.report(message);
      },
      (err) => this.report(`stop ${view.name}: ${this.options.describe(err)}`),
    );
  }

  /**
   * Runs `mvm console NAME` as a child on this terminal (terminal-handover.ts).
   * A child rather than an in-process attach keeps the console's raw mode and
   * Ctrl-] escape exactly as `mvm console` has them.
   */
  private attachConsole(): void {
    const view = this.selectedView();
    if (!view) {
      this.report('no VM selected');
      return;
    }
    if (isFinalShownState(view.state)) {
      this.report(`${view.name} is ${view.state}: no console to attach`);
      return;
    }
    this.consoleChild = lendTerminal(this.screen, process.execPath, [this.options.cliPath, 'console', view.name], (end) => {
      this.consoleChild = null;
      if (end.error) this.report(`console ${view.name}: ${end.error.message}`);
      else if (end.code === 0) this.report(`detached from ${view.name}`);
      else this.report(`console ${view.name} ended (${end.signal ?? `exit status ${end.code}`}); see mvm logs ${view.name}`);
    });
  }

  private report(message: string): void {
    this.status.show(message);
    this.render();
  }

  private render(): void {
    if (this.closed || this.consoleChild !== null) return;
    this.table.update(this.views, this.selected);
    this.history.update(this.selectedView());
    this.status.redraw();
    this.screen.render();
  }

  private fail(err: unknown): void {
    this.close(EXIT_INTERNAL_ERROR);
    process.stderr.write(`mvm: ${this.options.describe(err)}\n`);
  }

  /** Idempotent: stops polling, gives the terminal back, removes the process handlers. */
  close(status: number): void {
    if (this.closed) return;
    this.closed = true;
    this.options.source.stop();
    // A console still attached (we were signalled) restores its own terminal settings on SIGTERM.
    this.consoleChild?.kill('SIGTERM');
    this.screen.destroy();
    for (const [signal, handler] of this.signalHandlers) process.removeListener(signal, handler);
    process.removeListener('uncaughtException', this.onUncaught);
    process.removeListener('unhandledRejection', this.onUncaught);
    this.finish(status);
  }
}
