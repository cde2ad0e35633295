// --share HOSTDIR[,tag=TAG][,ro][,mount=/PATH] and [share.NAME] (src/config/share-option.ts),
// and how `mvm run` refuses bad shares: one line, a non-zero status, nothing started.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkShares, parseShareFlag } from '../../src/config/share-option.js';
import { UserError } from '../../src/errors.js';
import { loadRunConfig } from '../../src/config/run-config.js';
import { MVM_BIN } from '../helpers/mvm-cli.js';

describe('--share option', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-share-option-'));
    mkdirSync(join(dir, 'data'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses a directory with its tag (the directory name by default), ro and a mount point', () => {
    const data = join(dir, 'data');
    expect(parseShareFlag(data)).to.deep.equal({ path: data, tag: 'data', readOnly: false });
    expect(parseShareFlag(`${data},tag=web,ro,mount=/srv/web`)).to.deep.equal({ path: data, tag: 'web', readOnly: true, mountPoint: '/srv/web' });
  });

  it('refuses a missing directory, a file, an unknown option, a bad tag and a bad mount point with one line', () => {
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(() => parseShareFlag(join(dir, 'nope'))).to.throw(UserError, /^--share \S+nope: \S+nope does not exist$/);
    expect(() => parseShareFlag(file)).to.throw(UserError, /is not a directory$/);
    expect(() => parseShareFlag(`${dir}/data,rw`)).to.throw(UserError, /unknown option "rw"/);
    expect(() => parseShareFlag(`${dir}/data,tag=a b`)).to.throw(UserError, /is not a tag/);
    expect(() => parseShareFlag(`${dir}/data,tag=${'x'.repeat(37)}`)).to.throw(UserError, /is not a tag of 1-36/);
    expect(() => parseShareFlag(`${dir}/data,mount=relative`)).to.throw(UserError, /not an absolute guest directory/);
    expect(() => parseShareFlag(`${dir}/data,mount=/a/../b`)).to.throw(UserError, /not an absolute guest directory/);
    expect(() => parseShareFlag(',ro')).to.throw(UserError, /no directory given/);
  });

  it('refuses a tag given to two shares', () => {
    const a = parseShareFlag(`${dir}/data,tag=same`);
    expect(() => checkShares([a, { ...a, path: dir }])).to.throw(UserError, /the tag "same" is given to two shares/);
  });

  it('reads [share.NAME] sections, the tag defaulting to NAME and paths relative to the file', () => {
    const ini = join(dir, 'vm.ini');
    writeFileSync(ini, '[share.docs]\npath = data\nro = true\nmount = /docs\n');
    expect(loadRunConfig(ini).values.share).to.deep.equal([{ path: join(dir, 'data'), tag: 'docs', readOnly: true, mountPoint: '/docs' }]);
    writeFileSync(ini, '[share.docs]\npath = data\nro = maybe\n');
    expect(() => loadRunConfig(ini)).to.throw(UserError, /ro: must be true or false/);
  });

  describe('mvm run with a bad share', () => {
    const runDir = () => join(dir, 'run');
    const mvm = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [MVM_BIN, 'run', ...args, '--', 'true'], {
        encoding: 'utf8',
        env: { ...process.env, MVM_RUN_DIR: runDir(), ...env },
      });

    for (const [what, args, env, message] of [
      ['a missing directory', () => ['--share', join(dir, 'nope')], () => ({}), /^mvm: --share \S+: \S+nope does not exist$/],
      ['a tag used twice', () => ['--share', `${dir}/data,tag=t`, '--share', `${dir},tag=t`], () => ({}), /the tag "t" is given to two shares/],
      ['a bad option', () => ['--share', `${dir}/data,cache=none`], () => ({}), /unknown option "cache=none"/],
      [
        'virtiofsd missing',
        () => ['--share', `${dir}/data`],
        () => ({ MVM_VIRTIOFSD: join(dir, 'no-virtiofsd') }),
        /needs virtiofsd, which is not at/,
      ],
      [
        'a writable share the helper VM can only read',
        () => ['--share', '/usr/share'],
        () => ({ MVM_HELPER: 'always' }),
        /^mvm: --share \/usr\/share: the helper VM sees this directory read-only; add ,ro/,
      ],
    ] as const) {
      it(`refuses ${what}: one line, a non-zero status, no helper VM or VMM started`, () => {
        const result = mvm([...args()], env());
        expect(result.status, result.stderr).to.not.equal(0);
        const lines = result.stderr.trim().split('\n');
        expect(lines, result.stderr).to.have.length(1);
        expect(lines[0]).to.match(message);
        const started = existsSync(runDir()) ? readdirSync(runDir()) : [];
        expect(started, 'the runtime directory').to.deep.equal([]);
      });
    }
  });
});
