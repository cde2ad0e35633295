// The dashboard's one source of data: every interval it lists the VM
// directories (registry.ts), asks each VM's API socket for GET /vm and
// GET /stats, turns successive samples into rates (rates.ts) and keeps a
// bounded history per VM. Panels only ever read the VmView list it hands out.
// A VM that does not answer is shown as dead, never an exception: one wedged
// or vanished VMM must not take the dashboard (or the other rows) down.
import { join } from 'node:path';
import { apiCall, ApiUnreachable } from '../api/client.js';
import { API_PATHS, type StopAccepted, type VmInfo, type VmStats } from '../api/schema.js';
import { apiSocketPath, isFinalShownState, isLiveState, LIVENESS_PROBE_TIMEOUT_MS, shownState } from '../fleet/liveness.js';
import { listVms, type VmEntry } from '../fleet/registry.js';
import { VM_FILES, vmsRoot } from '../fleet/vm-dir.js';
import type { VmShownState } from '../fleet/vm-status.js';
import type { PathEnv } from '../runtime/paths.js';
import { computeRates, type VmRates } from './rates.js';
import { BoundedSeries } from './series.js';
import { isVmInfo, isVmStats } from './stats-shape.js';

/** Like top: once a second is lively without loading the VMMs (two small requests each). */
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** Samples kept per VM: 5 minutes at the default interval, more than any terminal is wide. */
export const HISTORY_LENGTH = 300;

export interface VmView {
  readonly name: string;
  readonly state: VmShownState;
  /** Why a VM is dead, failed or exited (its socket's error, the VMM's exit reason or status); null otherwise. */
  readonly reason: string | null;
  /** Why the API did not answer a VMM whose process is still there (wedged, or its relay gone); null when it answered. */
  readonly apiError: string | null;
  /** True once this dashboard asked the VM to stop (shown as stopping before the VMM says so). */
  readonly stopRequested: boolean;
  readonly info: VmInfo | null;
  readonly stats: VmStats | null;
  /** null until two samples of the same VMM have been taken. */
  readonly rates: VmRates | null;
  readonly cpuHistory: readonly number[];
  readonly exitsHistory: readonly number[];
}

export interface StatsSourceOptions {
  readonly env?: PathEnv;
  readonly intervalMs?: number;
  /** How long one request may take; a VM slower than this counts as not answering this round (default: as mvm ps waits). */
  readonly requestTimeoutMs?: number;
  readonly historyLength?: number;
}

/** What the source remembers about one VM between polls. */
class VmTracker {
  previous: VmStats | null = null;
  rates: VmRates | null = null;
  stopRequested = false;
  readonly cpu: BoundedSeries;
  readonly exits: BoundedSeries;

  constructor(historyLength: number) {
    this.cpu = new BoundedSeries(historyLength);
    this.exits = new BoundedSeries(historyLength);
  }

  addSample(stats: VmStats): void {
    this.rates = this.previous ? computeRates(this.previous, stats) : null;
    this.previous = stats;
    if (this.rates) {
      this.cpu.push(this.rates.cpuPercent);
      this.exits.push(this.rates.exitsPerSecond);
    }
  }

  /**
   * No sample this round (a slow answer through the helper VM, a VMM that is
   * gone): nothing to show now, but the last sample stays the baseline — the
   * counters are cumulative, so the next answer gives the rate over the gap,
   * and a new VMM behind the name is caught as a counter reset.
   */
  miss(): void {
    this.rates = null;
  }
}

function describeUnreachable(err: unknown): string {
  if (err instanceof ApiUnreachable) return `API socket does not answer: ${err.reason}`;
  return `API socket does not answer: ${err instanceof Error ? err.message : String(err)}`;
}

export class StatsSource {
  private readonly trackers = new Map<string, VmTracker>();
  /** Each VM's newest view, kept while a new request for it is still under way. */
  private readonly lastViews = new Map<string, VmView>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private latest: VmView[] = [];
  readonly intervalMs: number;
  private readonly requestTimeoutMs: number;
  private readonly historyLength: number;
  private readonly env: PathEnv;

  constructor(options: StatsSourceOptions = {}) {
    this.env = options.env ?? process.env;
    this.intervalMs = options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? LIVENESS_PROBE_TIMEOUT_MS;
    this.historyLength = options.historyLength ?? HISTORY_LENGTH;
  }

  /** Polls now and then every interval (a round never overlaps the previous one); `onUpdate` gets each round's views. */
  start(onUpdate: (views: readonly VmView[]) => void, onError: (err: unknown) => void): void {
    this.running = true;
    const round = (): void => {
      this.poll()
        .then(onUpdate, onError)
        .finally(() => {
          if (this.running) this.timer = setTimeout(round, this.intervalMs);
        });
    };
    round();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  views(): readonly VmView[] {
    return this.latest;
  }

  /**
   * One round: every VM in the registry, asked in parallel. A round waits at
   * most one interval (or `waitMs`): a VM still not answered by then keeps
   * its previous view and its request runs on (one at a time per VM), so a
   * wedged VMM never freezes the other rows.
   */
  async poll(waitMs: number = this.intervalMs): Promise<VmView[]> {
    const entries = listVms(this.env);
    const names = new Set(entries.map((e) => e.name));
    for (const map of [this.trackers, this.lastViews]) {
      for (const name of map.keys()) if (!names.has(name)) map.delete(name); // removed (mvm rm)
    }
    const answers = entries.map((entry) => {
      let inFlight = this.inFlight.get(entry.name);
      if (!inFlight) {
        inFlight = this.pollOne(entry)
          .then((view) => void this.lastViews.set(entry.name, view))
          .finally(() => this.inFlight.delete(entry.name));
        this.inFlight.set(entry.name, inFlight);
      }
      return inFlight;
    });
    let timer: NodeJS.Timeout | undefined;
    const roundEnd = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    try {
      await Promise.race([Promise.all(answers), roundEnd]);
    } finally {
      clearTimeout(timer);
    }
    this.latest = entries.map((entry) => this.lastViews.get(entry.name) ?? this.waitingView(entry));
    return this.latest;
  }

  /** A VM seen for the first time whose API has not answered yet. */
  private waitingView(entry: VmEntry): VmView {
    return {
      name: entry.name,
      state: entry.status?.state ?? 'starting',
      reason: 'waiting for the API to answer',
      apiError: null,
      stopRequested: false,
      info: null,
      stats: null,
      rates: null,
      cpuHistory: [],
      exitsHistory: [],
    };
  }

  /** POST /stop to the VM; `message` is a sentence for the status line, `sent` whether the VM accepted. */
  async requestStop(name: string): Promise<{ sent: boolean; message: string }> {
    const entry = this.latest.find((v) => v.name === name);
    if (!entry || isFinalShownState(entry.state)) {
      return { sent: false, message: `${name} is not running${entry ? ` (${entry.state})` : ''}` };
    }
    try {
      const answer = await apiCall<StopAccepted | { error?: string }>(this.socketOf(name), 'POST', API_PATHS.stop, {}, this.requestTimeoutMs);
      if (answer.status !== 202 && answer.status !== 200) {
        const error = (answer.body as { error?: unknown } | null)?.error;
        return { sent: false, message: `stop ${name}: the VM answered ${answer.status}${typeof error === 'string' ? ` (${error})` : ''}` };
      }
      this.tracker(name).stopRequested = true;
      return { sent: true, message: `stopping ${name}` };
    } catch (err) {
      return { sent: false, message: `stop ${name}: ${describeUnreachable(err)}` };
    }
  }

  private socketOf(name: string): string {
    return join(vmsRoot(this.env), name, VM_FILES.api);
  }

  private tracker(name: string): VmTracker {
    let tracker = this.trackers.get(name);
    if (!tracker) {
      tracker = new VmTracker(this.historyLength);
      this.trackers.set(name, tracker);
    }
    return tracker;
  }

  private async pollOne(entry: VmEntry): Promise<VmView> {
    const tracker = this.tracker(entry.name);
    const view = (
      state: VmShownState,
      reason: string | null,
      info: VmInfo | null,
      stats: VmStats | null,
      apiError: string | null = null,
    ): VmView => ({
      name: entry.name,
      state,
      reason,
      apiError,
      stopRequested: tracker.stopRequested,
      info,
      stats,
      rates: tracker.rates,
      cpuHistory: tracker.cpu.latest(),
      exitsHistory: tracker.exits.latest(),
    });
    const status = entry.status;
    if (status && isLiveState(status.state)) {
      try {
        const [info, stats] = await Promise.all([
          apiCall<unknown>(apiSocketPath(entry), 'GET', API_PATHS.vm, undefined, this.requestTimeoutMs),
          apiCall<unknown>(apiSocketPath(entry), 'GET', API_PATHS.stats, undefined, this.requestTimeoutMs),
        ]);
        if (info.status === 200 && isVmInfo(info.body) && stats.status === 200 && isVmStats(stats.body)) {
          tracker.addSample(stats.body);
          return view(info.body.state, null, info.body, stats.body);
        }
        tracker.miss();
        const error = `API socket answers, but not with mvm's /vm and /stats (HTTP ${info.status}/${stats.status})`;
        return view(status.state, error, null, null, error);
      } catch (err) {
        tracker.miss();
        // Not answering: the same liveness rules as mvm ps decide between dead and
        // not-yet-listening (a VM in the helper VM has no relay socket until it has booted).
        const shown = await shownState(entry);
        if (shown.state === 'dead') return view('dead', shown.reason ?? describeUnreachable(err), null, null);
        const error = describeUnreachable(err);
        return view(shown.state, error, null, null, error);
      }
    }
    // Final or not yet started: nothing to ask the API.
    tracker.miss();
    const shown = await shownState(entry);
    const reason = shown.reason ?? (status?.exitStatus != null ? `exit status ${status.exitStatus}` : null);
    return view(shown.state, reason, null, null);
  }
}
