// `mvm bench report` end to end on made-up results: the Markdown has the
// environment, the claims table with a measured value for every claim, one
// table per benchmark and links to charts that exist and parse as SVG; a
// missing or malformed result is named, never fatal; the CLI refuses when
// there is nothing at all.
import { expect } from 'chai';
import { XMLValidator } from 'fast-xml-parser';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readInputs } from '../../src/bench/report/inputs.js';
import { hostFacts } from '../../src/bench/report/document.js';
import { writeReport } from '../../src/bench/report/write.js';
import { runMvm } from '../helpers/mvm-cli.js';
import { bootFixture, densityFixture, diskFixture, guestDiskFixture, memoryFixture } from './report-fixtures.js';

const CLAIMS = [
  'A VM boots in minutes, a container in milliseconds',
  'A VM image is gigabytes, a container layer megabytes',
  'Tens of VMs but thousands of containers per host',
  'VMs reserve their RAM up front; containers share',
  'VMs isolate with a separate kernel, containers share the host kernel',
];
const CHARTS = ['boot-distribution.svg', 'memory-per-instance.svg', 'disk-per-count.svg', 'density-boot.svg'];

/** The claims table's rows: claim → measured cell. */
function claimCells(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  const start = markdown.indexOf('| claim | measured here |');
  expect(start, 'claims table header').to.be.greaterThan(-1);
  for (const line of markdown.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    rows.set(cells[0]!, cells[1]!);
  }
  return rows;
}

describe('mvm bench report', () => {
  let dir: string;
  const results = () => path.join(dir, 'results');
  const write = (name: string, value: unknown) =>
    fs.writeFileSync(path.join(results(), `${name}.json`), typeof value === 'string' ? value : JSON.stringify(value));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-report-spec-'));
    fs.mkdirSync(results());
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes every table, every claim with a measured value, and the four charts as SVG beside the Markdown', () => {
    write('boot', bootFixture());
    write('memory', memoryFixture());
    write('disk', diskFixture());
    write('density', densityFixture());
    write('guest-disk', guestDiskFixture());
    const inputs = readInputs(results());
    expect(inputs.missing).to.deep.equal([]);
    const out = path.join(dir, 'docs', 'benchmarks.md');
    fs.mkdirSync(path.dirname(out));
    const written = writeReport(out, inputs, hostFacts('pvm'), new Date('2026-11-24T00:00:00Z'), 'other <work> ran | meanwhile');
    const markdown = fs.readFileSync(out, 'utf8');

    expect(markdown).to.match(/^# Benchmarks/);
    expect(markdown).to.include('## Where this ran');
    expect(markdown).to.include('PVM');
    expect(markdown, 'the emulation caveat').to.include('software-emulated CPUs (TCG)');
    expect(markdown).to.include('make bench-report');
    expect(markdown).to.include('**Note on this run.** other <work> ran | meanwhile');
    const claims = claimCells(markdown);
    expect([...claims.keys()]).to.deep.equal(CLAIMS);
    for (const [claim, measured] of claims) {
      expect(measured, claim).to.not.match(/not measured in this run/);
      expect(measured.length, claim).to.be.greaterThan(20);
    }
    expect(claims.get(CLAIMS[0]!)).to.include('mvm 5.60 s').and.include('runc 400 ms');
    expect(claims.get(CLAIMS[1]!)).to.include('192 KiB');
    for (const heading of ['## Boot time', '## Memory per instance', '## Disk per instance', '## Density', '## Disk I/O inside the guest'])
      expect(markdown).to.include(heading);
    expect(markdown).to.include('| sequential write, 1 MiB | MB/s | 30.0 | 190.0 | 0.16× | 28.0 | 170.0 | 0.16× |');
    expect(markdown).to.include('| random read, 4 KiB | ops/s | 270 | 750 | 0.36× | 260 | 720 | 0.36× |');
    expect(markdown).to.include('| side | runs | p50 | p90 | p99 |');
    expect(markdown).to.include('| mvm | 3 | cap (--max) |');
    expect(markdown).to.not.include('## Missing');

    expect(written.charts.map((c) => path.basename(c)).sort()).to.deep.equal([...CHARTS].sort());
    for (const name of CHARTS) {
      expect(markdown, name).to.include(`](benchmarks/${name})`);
      const svg = fs.readFileSync(path.join(dir, 'docs', 'benchmarks', name), 'utf8');
      expect(XMLValidator.validate(svg), name).to.equal(true);
      expect(svg).to.include('<svg xmlns="http://www.w3.org/2000/svg"');
    }
  });

  it('writes what exists when results are missing or malformed, names each, and removes charts it no longer draws', () => {
    write('disk', diskFixture());
    write('memory', '{ not json');
    write('density', { benchmark: 'boot', started: 'x', sides: [] });
    const out = path.join(dir, 'benchmarks.md');
    fs.mkdirSync(path.join(dir, 'benchmarks'));
    fs.writeFileSync(path.join(dir, 'benchmarks', 'boot-distribution.svg'), '<svg/>');
    write('guest-disk', { benchmark: 'guest-disk', started: 'x', rates: { mvm: {} } });
    expect(readInputs(results()).missing.find((m) => m.benchmark === 'guest-disk')?.why).to.equal('it has no rates for mvm and QEMU');
    fs.rmSync(path.join(results(), 'guest-disk.json'));
    const inputs = readInputs(results());
    expect(inputs.missing.map((m) => m.benchmark)).to.deep.equal(['boot', 'memory', 'density', 'guest-disk']);
    writeReport(out, inputs, hostFacts('hardware'));
    const markdown = fs.readFileSync(out, 'utf8');
    expect(markdown).to.include('## Missing from this report');
    expect(markdown).to.match(/- boot: not run yet/);
    expect(markdown).to.match(/- memory: unreadable/);
    expect(markdown).to.match(/- density: its "benchmark" is "boot"/);
    expect(markdown).to.match(/- guest-disk: not run yet \(`mvm bench guest-disk`\)/);
    expect(markdown).to.not.include('## Disk I/O inside the guest');
    expect(claimCells(markdown).get(CLAIMS[0]!)).to.include('not measured in this run');
    expect(markdown).to.include('## Disk per instance');
    expect(fs.readdirSync(path.join(dir, 'benchmarks'))).to.deep.equal(['disk-per-count.svg']);
  });

  it('refuses, in one line, when there are no results at all or --out is not Markdown', async function () {
    this.timeout(60_000);
    const none = await runMvm(['bench', 'report', '--results', results(), '--out', path.join(dir, 'r.md')]);
    expect(none.status).to.equal(1);
    expect(none.stderr.trim().split('\n')).to.have.length(1);
    expect(none.stderr).to.match(/no benchmark results/);
    write('disk', diskFixture());
    const notMd = await runMvm(['bench', 'report', '--results', results(), '--out', path.join(dir, 'r.html')]);
    expect(notMd.status).to.equal(2);
    expect(notMd.stderr).to.match(/Markdown/);
    const ok = await runMvm(['bench', 'report', '--results', results(), '--out', path.join(dir, 'r.md')]);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(fs.existsSync(path.join(dir, 'r', 'disk-per-count.svg'))).to.equal(true);
  });
});
