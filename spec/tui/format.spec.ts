// The dashboard's text: units, sparklines, the table's columns and
// selection window, the history panel and the status line — all pure
// functions, checked without a terminal.
import { expect } from 'chai';
import { fitCell, formatBootMs, formatBytes, formatCount, formatPercent, formatUptime } from '../../src/tui/format.js';
import { historyLines } from '../../src/tui/history-panel.js';
import { sparkline } from '../../src/tui/sparkline.js';
import type { VmView } from '../../src/tui/stats-source.js';
import { KEYS_HELP, statusText } from '../../src/tui/status-line.js';
import { tableLayout } from '../../src/tui/vm-table.js';
import { BoundedSeries } from '../../src/tui/series.js';

const MIB = 1024 * 1024;

function view(name: string, overrides: Partial<VmView> = {}): VmView {
  return {
    name,
    state: 'running',
    reason: null,
    apiError: null,
    stopRequested: false,
    info: null,
    stats: null,
    rates: null,
    cpuHistory: [],
    exitsHistory: [],
    ...overrides,
  };
}

const busy: Partial<VmView> = {
  rates: {
    cpuPercent: 12.34,
    exitsPerSecond: 1530,
    diskReadBytesPerSecond: 1536,
    diskWriteBytesPerSecond: 0,
    netRxBytesPerSecond: 2 * MIB,
    netTxBytesPerSecond: 100,
  },
  stats: {
    timestamp: 0,
    uptimeMs: 3_723_000,
    bootMs: 2326,
    cpu: { userUs: 0, systemUs: 0 },
    memory: { rssBytes: 250 * MIB, guestTouchedBytes: 212 * MIB, vmmBytes: 38 * MIB },
    exits: { total: 10, byReason: { io: 6, mmio: 3, hlt: 1 } },
    disks: [],
    nets: [],
  },
};

describe('tui: formatting', () => {
  it('prints sizes, counts, percentages and times compactly', () => {
    expect([0, 512, 1536, 40 * MIB, 9.5 * MIB, 3 * 1024 * MIB].map(formatBytes)).to.deep.equal(['0', '512', '1.5K', '40M', '9.5M', '3G']);
    expect([0, 12.4, 999, 1530, 20_000, 2.5e6].map(formatCount)).to.deep.equal(['0', '12', '999', '1.5k', '20k', '2.5M']);
    expect(formatPercent(12.345)).to.equal('12.3');
    expect([0, 42_500, 187_000, 7_500_000, 3 * 86_400_000 + 4 * 3_600_000].map(formatUptime)).to.deep.equal(['0s', '42s', '3m07s', '2h05m', '3d04h']);
    expect(formatBootMs(2326.4)).to.equal('2326 ms');
    expect(formatBootMs(44_247)).to.equal('44.2 s');
  });

  it('prints "-" for missing or nonsensical values instead of NaN', () => {
    for (const bad of [null, undefined, Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect([formatBytes(bad), formatCount(bad), formatPercent(bad), formatUptime(bad), formatBootMs(bad)]).to.deep.equal(['-', '-', '-', '-', '-']);
    }
  });

  it('fits cells to a width, cutting with an ellipsis', () => {
    expect(fitCell('abc', 5)).to.equal('abc  ');
    expect(fitCell('abc', 5, 'right')).to.equal('  abc');
    expect(fitCell('abcdefgh', 5)).to.equal('abcd…');
  });
});

describe('tui: sparklines', () => {
  it('scales to the largest sample and right-aligns a short history', () => {
    expect(sparkline([0, 50, 100], 5)).to.equal('  ▁▅█');
    expect(sparkline([0, 0], 3)).to.equal(' ▁▁');
  });

  it('shows only the newest samples that fit, against a given ceiling', () => {
    expect(sparkline([100, 100, 0, 25], 2, 100)).to.equal('▁▃');
    expect(sparkline([500], 1, 100)).to.equal('█'); // above the ceiling: full, not beyond
  });

  it('keeps a bounded history', () => {
    const series = new BoundedSeries(3);
    [1, 2, 3, 4, 5].forEach((v) => {
      series.push(v);
    });
    expect(series.latest()).to.deep.equal([3, 4, 5]);
    expect(series.latest(2)).to.deep.equal([4, 5]);
  });
});

describe('tui: VM table layout', () => {
  it('lays out every column with the rates, memory as guest+VMM, boot and uptime', () => {
    const layout = tableLayout([view('web-1', busy)], 0, 120, 10);
    expect(layout.header.split(/\s+/).filter(Boolean)).to.deep.equal([
      'NAME',
      'STATE',
      'CPU%',
      'MEM',
      'EXITS/s',
      'DISK',
      'R/W',
      'NET',
      'RX/TX',
      'BOOT',
      'UPTIME',
    ]);
    expect(layout.rows[0]!.split(/\s+/).filter(Boolean)).to.deep.equal([
      'web-1',
      'running',
      '12.3',
      '212M+38M',
      '1.5k',
      '1.5K/0',
      '2M/100',
      '2326',
      'ms',
      '1h02m',
    ]);
    expect(layout.rows[0]!.length).to.equal(120);
  });

  it('shows a VM without stats with dashes, and a stop asked for as stopping', () => {
    const layout = tableLayout([view('gone', { state: 'dead' }), view('leaving', { stopRequested: true })], -1, 100, 10);
    expect(layout.rows[0]!.split(/\s+/).filter(Boolean).slice(0, 4)).to.deep.equal(['gone', 'dead', '-', '-']);
    expect(layout.rows[1]).to.match(/^leaving\s+stopping\s/);
    expect(layout.selectedRow).to.equal(-1);
  });

  it('drops the least important columns on a narrow terminal, never the name, state or CPU', () => {
    const layout = tableLayout([view('web-1', busy)], 0, 60, 10);
    expect(layout.header).to.match(/^NAME\s+STATE\s+CPU%\s+MEM\s+EXITS\/s/);
    expect(layout.header).not.to.match(/BOOT|NET/);
    expect(layout.header.length).to.equal(60);
  });

  it('scrolls to keep the selected VM visible', () => {
    const views = Array.from({ length: 10 }, (_, i) => view(`vm-${i}`));
    const layout = tableLayout(views, 7, 80, 4); // header + 3 rows
    expect(layout.rows.map((r) => r.split(' ')[0])).to.deep.equal(['vm-5', 'vm-6', 'vm-7']);
    expect(layout.selectedRow).to.equal(2);
    expect(tableLayout(views, 1, 80, 4).firstView).to.equal(0);
  });

  it('cuts long names so the numbers stay on screen', () => {
    const long = 'a'.repeat(63);
    const row = tableLayout([view(long, busy)], 0, 120, 5).rows[0]!;
    expect(row).to.contain('…');
    expect(row).to.contain('12.3');
  });
});

describe('tui: history panel and status line', () => {
  it('draws CPU and exits sparklines with the latest and peak values and the exit reasons', () => {
    const lines = historyLines(
      view('web-1', {
        ...busy,
        info: {
          name: 'web-1',
          createdAt: '',
          cpus: 2,
          memoryBytes: 256 * MIB,
          kernel: '',
          initrd: null,
          cmdline: '',
          console: 'virtio',
          drives: [],
          nets: [],
          vsock: null,
          rng: true,
          config: null,
          state: 'running',
          pid: 4321,
          startedAt: '',
          uptimeMs: 1,
          bootMs: 1,
        },
        cpuHistory: [0, 50, 25],
        exitsHistory: [100, 3000, 1500],
      }),
      60,
    );
    expect(lines[0]).to.match(/^CPU %\s+▁▅▃ {2}now {3}25\.0 {2}max {3}50\.0$/); // against one core: 50 % is half height
    expect(lines[1]).to.match(/^exits\/s\s+▁█▅ {2}now {3}1\.5k {2}max {5}3k$/);
    expect(lines[0]!.length).to.equal(60);
    expect(lines[2]).to.equal('vcpus 2, memory 256M, pid 4321, exits 10: io 60% mmio 30% hlt 10%');
  });

  it('says why a VM is not running instead of its facts', () => {
    expect(historyLines(view('x', { state: 'dead', reason: 'VMM process gone' }), 60)[2]).to.equal('dead: VMM process gone');
    expect(historyLines(undefined, 60).join('\n')).to.contain('select a VM');
  });

  it('puts the key help on the right when there is room', () => {
    expect(statusText('stopping web-1', 80)).to.match(new RegExp(`^stopping web-1 +${KEYS_HELP.replace(/[/]/g, '\\/')}$`));
    expect(statusText('stopping web-1', 80).length).to.equal(80);
    expect(statusText('x'.repeat(100), 20)).to.equal('x'.repeat(20));
  });
});
