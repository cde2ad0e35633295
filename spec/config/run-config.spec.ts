// What a valid `mvm run --config` file turns into: the option values the
// equivalent flags would give (devices as the settings their flags parse to),
// paths relative to the file, drives and NICs in file order.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadRunConfig } from '../../src/config/run-config.js';

describe('mvm run --config: reading a valid file', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-config-'));
    mkdirSync(join(dir, 'vm'));
    mkdirSync(join(dir, 'images'));
    for (const name of ['vmlinux', 'initrd.gz', 'root.img', 'a.img', 'b.img', 'c.img', 'd.img'])
      writeFileSync(join(dir, 'images', name), Buffer.alloc(4096));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  function load(text: string): ReturnType<typeof loadRunConfig>['values'] {
    const file = join(dir, 'vm', 'web.ini');
    writeFileSync(file, text);
    return loadRunConfig(file).values;
  }

  it('maps every section and key to the value of its flag', () => {
    const values = load(
      [
        '; every section mvm knows',
        '[vm]',
        'name = web-1',
        '[machine]',
        'vcpus = 2',
        'memory = 512M',
        'rng = false',
        '[kernel]',
        'path = ../images/vmlinux',
        'initrd = ../images/initrd.gz',
        'cmdline = console=hvc0 quiet',
        'append = ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off',
        '[console]',
        'device = serial',
        '[drive.root]',
        'path = ../images/root.img',
        'mode = persistent',
        '[net.eth0]',
        'tap = tap0',
        'mac = 02:00:00:00:00:01',
        '[vsock]',
        'cid = 7',
        'uds = api.vsock',
      ].join('\n'),
    );
    const { net, ...rest } = values;
    expect([...net![0]!.mac]).to.deep.equal([2, 0, 0, 0, 0, 1]);
    expect(net!.map((n) => n.tap)).to.deep.equal(['tap0']);
    expect(rest).to.deep.equal({
      name: 'web-1',
      cpus: '2',
      memory: '512M',
      rng: false,
      kernel: join(dir, 'images/vmlinux'),
      initrd: join(dir, 'images/initrd.gz'),
      bootArgs: 'console=hvc0 quiet',
      append: ['ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off'],
      console: 'serial',
      disk: [{ path: join(dir, 'images/root.img'), mode: 'persistent' }],
      vsock: { cid: 7, uds: join(dir, 'vm/api.vsock') },
    });
  });

  it("resolves relative paths against the file's folder, not the working directory", () => {
    const values = load('[kernel]\npath = ../images/vmlinux\n[drive.root]\npath = ../images/root.img\n');
    expect(relative(process.cwd(), dir).startsWith('..'), 'the spec runs outside the temporary folder').to.equal(true);
    expect(values.kernel).to.equal(join(dir, 'images', 'vmlinux'));
    expect(values.disk).to.deep.equal([{ path: join(dir, 'images', 'root.img'), mode: 'overlay' }]);
  });

  it('keeps absolute paths as they are', () => {
    expect(load(`[drive.root]\npath = ${join(dir, 'images', 'a.img')}\n`).disk).to.deep.equal([
      { path: join(dir, 'images', 'a.img'), mode: 'overlay' },
    ]);
  });

  it('attaches drives in file order (vda, vdb, …), whatever their names', () => {
    const values = load(
      [
        '[drive.zeta]',
        'path = ../images/a.img',
        '[machine]',
        'vcpus = 1',
        '[drive.10]',
        'path = ../images/b.img',
        'mode = ro',
        '[drive.2]',
        'path = ../images/c.img',
        '[drive.alpha]',
        'path = ../images/d.img',
        'mode = overlay',
      ].join('\n'),
    );
    expect(values.disk).to.deep.equal([
      { path: join(dir, 'images/a.img'), mode: 'overlay' },
      { path: join(dir, 'images/b.img'), mode: 'ro' },
      { path: join(dir, 'images/c.img'), mode: 'overlay' },
      { path: join(dir, 'images/d.img'), mode: 'overlay' },
    ]);
  });

  it('reads "initrd =" as no initramfs and an empty append as nothing', () => {
    const values = load('[kernel]\ninitrd =\nappend =\n');
    expect(values).to.deep.equal({ initrd: '' });
  });

  it("follows ini quoting and comments (the ini package's rules)", () => {
    const values = load(
      [
        '# a comment',
        '  ; another',
        '[machine]  ; the machine',
        'memory = 1G ; inline comment',
        '[kernel]',
        'append = "quiet loglevel=3 ; not a comment"',
        '[drive.root]',
        "path = '../images/a.img'",
      ].join('\r\n'),
    );
    expect(values).to.deep.equal({
      memory: '1G',
      append: ['quiet loglevel=3 ; not a comment'],
      disk: [{ path: join(dir, 'images/a.img'), mode: 'overlay' }],
    });
  });

  it("leaves out what the file does not set, so the flags' defaults stay", () => {
    expect(load('[machine]\nvcpus = 3\n')).to.deep.equal({ cpus: '3' });
    expect(load('')).to.deep.equal({});
  });
});
