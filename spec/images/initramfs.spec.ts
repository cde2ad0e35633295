// images/build-rootfs.sh: the initramfs holds an executable /init, static
// busybox with every applet the init runs, the console node the kernel opens
// for init, and is byte-for-byte reproducible.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { IMAGES_DIR, INIT_DIR } from './paths.js';
import { readNewc, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type CpioEntry } from './newc.js';

/** Every command the scripts of firmware/init/ run, as busybox applets (init is busybox init). */
const APPLETS_THE_INIT_RUNS = [
  'sh',
  'init',
  'mount',
  'mkdir',
  'hostname',
  'devmem',
  'cat',
  'base64',
  'setsid',
  'cttyhack',
  'sync',
  'stty',
  'reboot',
  'sleep',
  'poweroff',
  'halt',
  'ip',
];
/** Scripts busybox init runs from /etc/inittab, with their sources. */
const INITTAB_SCRIPTS = { 'lib/mvm/session': 'session', 'lib/mvm/shutdown': 'shutdown' };
const CONSOLE_MAJOR = 5;
const CONSOLE_MINOR = 1;
const MEM_MAJOR = 1;
const MEM_MINOR = 1;
const EXECUTABLE_BY_ALL = 0o111;

function buildRootfs(output: string): Buffer {
  execFileSync(path.join(IMAGES_DIR, 'build-rootfs.sh'), [output], { stdio: 'pipe' });
  return fs.readFileSync(output);
}

describe('initramfs (images/build-rootfs.sh)', () => {
  let dir: string;
  let archive: Buffer;
  let byName: Map<string, CpioEntry>;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-rootfs-'));
    archive = buildRootfs(path.join(dir, 'initramfs.cpio.gz'));
    byName = new Map(readNewc(zlib.gunzipSync(archive)).map((e) => [e.name, e]));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function entry(name: string): CpioEntry {
    const found = byName.get(name);
    expect(found, `${name} in the initramfs`).to.not.equal(undefined);
    return found!;
  }

  it('has /init, an executable copy of firmware/init/init', () => {
    const init = entry('init');
    expect(init.mode & S_IFMT).to.equal(S_IFREG);
    expect(init.mode & EXECUTABLE_BY_ALL).to.equal(EXECUTABLE_BY_ALL);
    expect(init.data.equals(fs.readFileSync(path.join(INIT_DIR, 'init')))).to.equal(true);
    expect(init.data.toString('utf8').split('\n')[0]).to.equal('#!/bin/sh');
  });

  it('has the init library where the init sources it', () => {
    const init = entry('init').data.toString('utf8');
    expect(init).to.contain('. /lib/mvm/init-lib.sh');
    expect(entry('lib/mvm/init-lib.sh').data.equals(fs.readFileSync(path.join(INIT_DIR, 'mvm-init-lib.sh')))).to.equal(true);
  });

  it('has the inittab and the executable scripts it names', () => {
    const inittab = entry('etc/inittab').data.toString('utf8');
    for (const [name, source] of Object.entries(INITTAB_SCRIPTS)) {
      expect(inittab).to.match(new RegExp(`^::\\w+:/${name}$`, 'm'));
      const script = entry(name);
      expect(script.mode & EXECUTABLE_BY_ALL).to.equal(EXECUTABLE_BY_ALL);
      expect(script.data.equals(fs.readFileSync(path.join(INIT_DIR, source)))).to.equal(true);
    }
    expect(entry('init').data.toString('utf8')).to.match(/^exec \/sbin\/init$/m);
  });

  it("has Debian's static busybox, executable", () => {
    const busybox = entry('bin/busybox');
    expect(busybox.mode & S_IFMT).to.equal(S_IFREG);
    expect(busybox.mode & EXECUTABLE_BY_ALL).to.equal(EXECUTABLE_BY_ALL);
    expect(busybox.data.equals(fs.readFileSync('/bin/busybox'))).to.equal(true);
    expect(busybox.data.includes(Buffer.from('/lib64/ld-linux')), 'no dynamic loader').to.equal(false);
  });

  it('links every applet the init runs to busybox', () => {
    const links = new Map(
      [...byName.values()].filter((e) => (e.mode & S_IFMT) === S_IFLNK).map((e) => [path.basename(e.name), e.data.toString('utf8')]),
    );
    for (const applet of APPLETS_THE_INIT_RUNS) {
      expect(links.get(applet), `applet ${applet}`).to.equal('/bin/busybox');
    }
  });

  it('has /dev/console (char 5:1), /dev/mem (char 1:1) and the mount points the init uses', () => {
    const console = entry('dev/console');
    expect(console.mode & S_IFMT).to.equal(S_IFCHR);
    expect([console.rdevMajor, console.rdevMinor]).to.deep.equal([CONSOLE_MAJOR, CONSOLE_MINOR]);
    const mem = entry('dev/mem');
    expect(mem.mode & S_IFMT).to.equal(S_IFCHR);
    expect([mem.rdevMajor, mem.rdevMinor]).to.deep.equal([MEM_MAJOR, MEM_MINOR]);
    for (const mountPoint of ['dev', 'proc', 'sys', 'tmp', 'root']) expect(entry(mountPoint).mode & S_IFMT).to.equal(S_IFDIR);
  });

  it('lists every parent directory before its children, all owned by root', () => {
    const seen = new Set<string>();
    for (const e of byName.values()) {
      const parent = path.dirname(e.name);
      if (parent !== '.') expect(seen.has(parent), `${parent} before ${e.name}`).to.equal(true);
      expect([e.uid, e.gid]).to.deep.equal([0, 0]);
      seen.add(e.name);
    }
  });

  it('is reproducible: a second build gives the same bytes', () => {
    expect(buildRootfs(path.join(dir, 'again.cpio.gz')).equals(archive)).to.equal(true);
  });
});
