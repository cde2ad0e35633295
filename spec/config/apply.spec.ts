// Flags typed on the command line override the config file; the file
// overrides the flags' defaults. Checked against the real `mvm run` option
// definitions (its action swapped for one that only merges), so a renamed
// option cannot silently stop the file from applying.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../../src/cli/commands/run.js';
import { applyConfigFile } from '../../src/config/apply.js';

interface Parsed {
  options: Record<string, unknown>;
  configPath: string | null;
}

/** Parses `mvm run ARGS` with run's real options and merges the config file as run's action does. */
async function parseRun(args: readonly string[]): Promise<Parsed> {
  const program = new Command('mvm').exitOverride();
  register(program);
  const run = program.commands.find((c) => c.name() === 'run')!;
  let parsed: Parsed | undefined;
  run.action((_command: string[], options: Record<string, unknown>, self: Command) => {
    const configPath = applyConfigFile(self);
    parsed = { options, configPath };
  });
  await program.parseAsync(['run', ...args], { from: 'user' });
  return parsed!;
}

describe('mvm run --config: merging with the command line', () => {
  let dir: string;
  let file: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-config-apply-'));
    for (const name of ['root.img', 'data.img', 'extra.img']) writeFileSync(join(dir, name), Buffer.alloc(4096));
    file = join(dir, 'web.ini');
    writeFileSync(
      file,
      [
        '[machine]',
        'vcpus = 2',
        'memory = 512M',
        'rng = false',
        '[kernel]',
        'append = root=/dev/vda',
        'initrd =',
        '[console]',
        'device = serial',
        '[drive.root]',
        'path = root.img',
        '[drive.data]',
        'path = data.img',
        'mode = ro',
      ].join('\n'),
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("takes the file's values over the flags' defaults", async () => {
    const { options, configPath } = await parseRun(['--config', file]);
    expect(configPath).to.equal(file);
    expect(options).to.include({ cpus: '2', memory: '512M', rng: false, initrd: '', console: 'serial' });
    expect(options['append']).to.deep.equal(['root=/dev/vda']);
    expect(options['disk']).to.deep.equal([
      { path: join(dir, 'root.img'), mode: 'overlay' },
      { path: join(dir, 'data.img'), mode: 'ro' },
    ]);
  });

  it('lets a flag given on the command line win over the file', async () => {
    const { options } = await parseRun(['--config', file, '--cpus', '4', '-m', '1G', '--console', 'virtio', '--initrd', '/boot/other.img']);
    expect(options).to.include({ cpus: '4', memory: '1G', console: 'virtio', initrd: '/boot/other.img', rng: false });
  });

  it('lets --no-rng win over rng = true, and rng = false win over the default', async () => {
    const withRng = join(dir, 'rng.ini');
    writeFileSync(withRng, '[machine]\nrng = true\n');
    expect((await parseRun(['--config', withRng, '--no-rng'])).options['rng']).to.equal(false);
    expect((await parseRun(['--config', withRng])).options['rng']).to.equal(true);
    expect((await parseRun(['--config', file])).options['rng']).to.equal(false);
  });

  it('jails by default; jail = false in the file or --no-jail turns it off', async () => {
    const noJail = join(dir, 'no-jail.ini');
    writeFileSync(noJail, '[machine]\njail = false\n');
    expect((await parseRun([])).options['jail']).to.equal(true);
    expect((await parseRun(['--config', noJail])).options['jail']).to.equal(false);
    expect((await parseRun(['--no-jail'])).options['jail']).to.equal(false);
  });

  it("puts --disk and --append after the file's disks and parameters", async () => {
    const { options } = await parseRun(['--config', file, '--disk', join(dir, 'extra.img'), '--append', 'rw', '--append', 'init=/init']);
    expect(options['disk']).to.deep.equal([
      { path: join(dir, 'root.img'), mode: 'overlay' },
      { path: join(dir, 'data.img'), mode: 'ro' },
      { path: join(dir, 'extra.img'), mode: 'overlay' },
    ]);
    expect(options['append']).to.deep.equal(['root=/dev/vda', 'rw', 'init=/init']);
  });

  it('changes nothing without --config', async () => {
    const { options, configPath } = await parseRun(['--cpus', '3']);
    expect(configPath).to.equal(null);
    expect(options).to.include({ cpus: '3', memory: '256M', rng: true, console: 'virtio' });
    expect(options['disk']).to.equal(undefined);
  });

  it('only produces options that `mvm run` has', async () => {
    const everything = join(dir, 'everything.ini');
    writeFileSync(
      everything,
      [
        '[vm]',
        'name = web',
        '[machine]',
        'vcpus = 1',
        'memory = 64M',
        'rng = true',
        '[kernel]',
        `path = ${join(dir, 'root.img')}`,
        'initrd =',
        'cmdline = quiet',
        'append = rw',
        '[console]',
        'device = virtio',
        '[drive.root]',
        'path = root.img',
        '[net.eth0]',
        'tap = tap0',
        '[vsock]',
        'cid = 3',
      ].join('\n'),
    );
    const program = new Command('mvm');
    register(program);
    const run = program.commands.find((c) => c.name() === 'run')!;
    const optionNames = run.options.map((o) => o.attributeName());
    const { loadRunConfig } = await import('../../src/config/run-config.js');
    const keys = Object.keys(loadRunConfig(everything).values);
    expect(keys).to.have.length(12);
    expect(optionNames).to.include.members(keys);
  });
});
