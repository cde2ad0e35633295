// The mvm-runtime command line (src/oci/main.ts) as an engine calls it, without
// booting a VM: bad input is one line on stderr (and a JSON line in --log),
// a non-zero status and nothing left behind; a created container's shim is a
// live process until it is killed, and delete removes every trace.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../helpers/mvm-cli.js';

const RUNTIME_BIN = resolve(PROJECT_ROOT, 'dist/bundle/mvm-runtime.js');

describe('mvm-runtime command line', function () {
  this.timeout(60_000);
  let dir: string;
  let stateRoot: string;
  let logFile: string;
  let runDir: string;

  /** Runs mvm-runtime with its output in files: a created container's shim keeps its stdio open, as an engine expects. */
  function runtime(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const out = openSync(join(dir, 'stdout'), 'w');
    const err = openSync(join(dir, 'stderr'), 'w');
    const result = spawnSync(RUNTIME_BIN, ['--root', stateRoot, '--log', logFile, '--log-format', 'json', '--systemd-cgroup', ...args], {
      env: { ...process.env, MVM_RUN_DIR: runDir },
      stdio: ['ignore', out, err],
      timeout: 30_000,
    });
    closeSync(out);
    closeSync(err);
    return { status: result.status, stdout: readFileSync(join(dir, 'stdout'), 'utf8'), stderr: readFileSync(join(dir, 'stderr'), 'utf8') };
  }

  function bundle(name: string, config: unknown): string {
    const path = join(dir, name);
    mkdirSync(join(path, 'rootfs'), { recursive: true });
    if (config !== undefined) writeFileSync(join(path, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return path;
  }

  const goodConfig = { ociVersion: '1.0.2', process: { args: ['true'], cwd: '/' }, root: { path: 'rootfs' } };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-runtime-cli-'));
    stateRoot = join(dir, 'state');
    logFile = join(dir, 'runtime.log');
    runDir = join(dir, 'run');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses bad bundles and unknown IDs with one line, a JSON log line, and nothing left behind', () => {
    const cases: [string[], RegExp][] = [
      [['create', '--bundle', bundle('no-config', undefined), 'c1'], /has no config\.json$/],
      [['create', '--bundle', bundle('not-json', '{'), 'c1'], /is not valid JSON/],
      [['create', '--bundle', bundle('v2', { ...goodConfig, ociVersion: '2.0.0' }), 'c1'], /not a runtime-spec version mvm knows/],
      [['create', '--bundle', bundle('no-root', { ...goodConfig, root: { path: 'missing' } }), 'c1'], /root\.path \S+missing is not a directory/],
      [['create', '--bundle', bundle('good', goodConfig), 'bad/id'], /is not a valid container ID/],
      [['start', 'nobody'], /^mvm-runtime: container nobody does not exist$/],
      [['kill', 'nobody', 'KILL'], /^mvm-runtime: container nobody does not exist$/],
      [['delete', 'nobody'], /^mvm-runtime: container nobody does not exist$/],
      [['state', 'nobody'], /^mvm-runtime: container nobody does not exist$/],
      [['frobnicate', 'c1'], /unknown command "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      rmSync(logFile, { force: true });
      const result = runtime(...args);
      expect(result.status, args.join(' ')).to.equal(1);
      expect(result.stderr.trimEnd().split('\n'), args.join(' ')).to.have.length(1);
      expect(result.stderr.trimEnd(), args.join(' ')).to.match(message);
      const logged = JSON.parse(readFileSync(logFile, 'utf8').trim().split('\n').at(-1)!) as { level: string; msg: string };
      expect(logged.level).to.equal('error');
      expect(`mvm-runtime: ${logged.msg}`).to.equal(result.stderr.trimEnd());
      expect(existsSync(stateRoot) ? readdirSync(stateRoot) : []).to.deep.equal([]);
    }
  });

  it('creates a container whose pid is a live process, refuses its ID twice, and kill + delete leave nothing', () => {
    const path = bundle('good', { ...goodConfig, annotations: { 'org.example': 'yes' } });
    const pidFile = join(dir, 'pid');
    const created = runtime('create', '--bundle', path, '--pid-file', pidFile, 'c1');
    expect(created.status, created.stderr).to.equal(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(existsSync(`/proc/${pid}`)).to.equal(true);
    const state = JSON.parse(runtime('state', 'c1').stdout) as Record<string, unknown>;
    expect(state).to.include({ ociVersion: '1.0.2', id: 'c1', status: 'created', pid, bundle: path });
    expect(state['annotations']).to.deep.equal({ 'org.example': 'yes' });

    const again = runtime('create', '--bundle', path, 'c1');
    expect(again.status).to.equal(1);
    expect(again.stderr.trimEnd()).to.equal('mvm-runtime: container ID c1 is already in use');

    expect(runtime('kill', 'c1', 'SIGKILL').status).to.equal(0);
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !/\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) {
      spawnSync('sleep', ['0.05']);
    }
    expect((JSON.parse(runtime('state', 'c1').stdout) as { status: string }).status).to.equal('stopped');
    expect(runtime('kill', 'c1', 'TERM').stderr.trimEnd()).to.equal('mvm-runtime: container c1 is not running');
    expect(runtime('delete', 'c1').status).to.equal(0);
    expect(readdirSync(stateRoot)).to.deep.equal([]);
    expect(existsSync(join(runDir, 'oci', 'c1'))).to.equal(false);
  });

  it('delete --force ends a created container; a plain delete of it works too, as with runc', () => {
    const path = bundle('good', goodConfig);
    for (const force of [true, false]) {
      const pidFile = join(dir, 'pid');
      expect(runtime('create', '--bundle', path, '--pid-file', pidFile, 'c2').status).to.equal(0);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const deleted = force ? runtime('delete', '--force', 'c2') : runtime('delete', 'c2');
      expect(deleted.status, deleted.stderr).to.equal(0);
      const alive = existsSync(`/proc/${pid}`) && !/\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      expect(alive).to.equal(false);
      expect(readdirSync(stateRoot)).to.deep.equal([]);
    }
  });

  it('answers --version and features', () => {
    expect(runtime('--version').stdout).to.match(/^mvm-runtime version \S+\nspec: 1\.0\.2\n$/);
    const features = JSON.parse(runtime('features').stdout) as { ociVersionMin: string };
    expect(features.ociVersionMin).to.equal('1.0.0');
  });
});
