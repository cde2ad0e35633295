// Every way a `mvm run --config` file can be wrong gives one line that names
// the file, the line, the section and the key, and exit status 2.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { loadRunConfig } from '../../src/config/run-config.js';

describe('mvm run --config: validation errors', () => {
  let dir: string;
  let disk: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-config-errors-'));
    disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(4096));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes FILE with `text` and returns the error loading it gives. */
  function errorFor(text: string | Buffer, name = 'vm.ini'): UserError {
    const file = join(dir, name);
    writeFileSync(file, text);
    return errorLoading(file);
  }

  function errorLoading(file: string): UserError {
    try {
      loadRunConfig(file);
    } catch (err) {
      expect(err).to.be.instanceOf(UserError);
      const error = err as UserError;
      expect(error.exitCode, error.message).to.equal(2);
      expect(error.message, 'one line').not.to.include('\n');
      return error;
    }
    throw new Error(`${file} loaded without an error`);
  }

  it('a file that does not exist', () => {
    const file = join(dir, 'missing.ini');
    expect(errorLoading(file).message).to.equal(`${file}: no such file`);
  });

  it('a directory instead of a file', () => {
    const folder = join(dir, 'folder.ini');
    mkdirSync(folder);
    expect(errorLoading(folder).message).to.equal(`${folder}: not a regular file`);
  });

  it('a binary file', () => {
    const error = errorFor(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]), 'binary.ini');
    expect(error.message).to.equal(`${join(dir, 'binary.ini')}: binary data (a NUL byte): not an ini file`);
  });

  it('a text file that is not ini (JSON), naming the line', () => {
    const error = errorFor('{\n  "machine": { "vcpus": 2 }\n}\n', 'json.ini');
    expect(error.message).to.equal(
      `${join(dir, 'json.ini')}:1: "{" is not a [section] header, a key = value line or a comment: is this an ini file?`,
    );
  });

  it('a broken section header', () => {
    expect(errorFor('[machine\nvcpus = 2\n').message).to.match(/vm\.ini:1: "\[machine" is not a \[section\] header/);
  });

  it('a key before any section', () => {
    expect(errorFor('# comment\nvcpus = 2\n[machine]\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: key "vcpus" outside any section; put it under its [section]`,
    );
  });

  it('an unknown section', () => {
    const error = errorFor('[machine]\nvcpus = 1\n\n[disk]\npath = x\n');
    expect(error.message).to.equal(
      `${join(dir, 'vm.ini')}:4: [disk] unknown section (known: [vm], [machine], [kernel], [console], [drive.NAME], [net.NAME], [share.NAME], [vsock])`,
    );
  });

  it('a single section with a device name, a device section without one', () => {
    expect(errorFor('[machine.big]\nvcpus = 2\n').message).to.match(/vm\.ini:1: \[machine\.big\] unknown section/);
    expect(errorFor('[drive]\npath = disk.img\n').message).to.match(/vm\.ini:1: \[drive\] needs a name, e\.g\. \[drive\.root\]/);
    expect(errorFor('[net.eth/0]\ntap = tap0\n').message).to.match(/vm\.ini:1: \[net\.eth\/0\] "eth\/0" is not a device name/);
  });

  it('an unknown key, listing the known ones', () => {
    expect(errorFor('[machine]\ncpus = 2\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: [machine] cpus: unknown key (keys of [machine]: vcpus, memory, rng, jail)`,
    );
    expect(errorFor('[drive.root]\npath = disk.img\nformat = qcow2\n').message).to.match(
      /vm\.ini:3: \[drive\.root\] format: unknown key \(keys of \[drive\.NAME\]: path, mode\)/,
    );
  });

  it("a bad memory size, with the size parser's own explanation", () => {
    expect(errorFor('[machine]\nmemory = 12Q\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: [machine] memory: invalid memory size "12Q" (use bytes or a K/M/G/T suffix, e.g. 512M or 10G)`,
    );
    expect(errorFor('[machine]\nmemory = 1K\n').message).to.match(/vm\.ini:2: \[machine\] memory: "1K" is below the minimum of 2M$/);
  });

  it('a bad vCPU count', () => {
    expect(errorFor('[machine]\nvcpus = 0\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: [machine] vcpus: must be a whole number of at least 1, not "0"`,
    );
    expect(errorFor('[machine]\nvcpus = 1.5\n').message).to.match(/\[machine\] vcpus: must be a whole number of at least 1, not "1\.5"$/);
  });

  it('a bad drive mode', () => {
    expect(errorFor('[drive.root]\npath = disk.img\nmode = rw\n').message).to.equal(
      `${join(dir, 'vm.ini')}:3: [drive.root] mode: must be overlay, persistent or ro, not "rw"`,
    );
  });

  it('a drive without its path', () => {
    expect(errorFor('[drive.root]\nmode = ro\n').message).to.equal(
      `${join(dir, 'vm.ini')}:1: [drive.root] path: missing: every [drive.NAME] section needs it`,
    );
  });

  it('a drive whose image does not exist, with the path it was looked for at', () => {
    expect(errorFor('[drive.root]\npath = nothere.qcow2\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: [drive.root] path: ${join(dir, 'nothere.qcow2')} does not exist`,
    );
  });

  it('a key given twice in one section, and a section given twice', () => {
    expect(errorFor('[machine]\nvcpus = 1\nmemory = 1G\nvcpus = 2\n').message).to.equal(
      `${join(dir, 'vm.ini')}:4: [machine] vcpus: given twice in one section (first on line 2)`,
    );
    expect(errorFor('[machine]\nvcpus = 1\n[kernel]\n[machine]\nmemory = 1G\n').message).to.equal(
      `${join(dir, 'vm.ini')}:4: [machine] section given twice (first on line 1); put all its keys in one section`,
    );
  });

  it('an empty value where one is needed', () => {
    expect(errorFor('[machine]\nmemory =\n').message).to.equal(`${join(dir, 'vm.ini')}:2: [machine] memory: has no value`);
  });

  it('a bad boolean, console device, kernel path and VM name', () => {
    expect(errorFor('[machine]\nrng = yes\n').message).to.match(/:2: \[machine\] rng: must be true or false, not "yes"$/);
    expect(errorFor('[console]\ndevice = vga\n').message).to.match(/:2: \[console\] device: must be virtio or serial, not "vga"$/);
    expect(errorFor('[kernel]\npath = vmlinux-missing\n').message).to.equal(
      `${join(dir, 'vm.ini')}:2: [kernel] path: ${join(dir, 'vmlinux-missing')} does not exist`,
    );
    expect(errorFor('[vm]\nname = -web\n').message).to.match(/:2: \[vm\] name: "-web" is not a valid VM name/);
  });

  it("bad network and vsock values, through the flags' own parsers", () => {
    expect(errorFor('[net.eth0]\nmac = 02:00:00:00:00:01\n').message).to.match(/:1: \[net\.eth0\] tap: missing/);
    expect(errorFor('[net.eth0]\ntap = tap0\nmac = 01:00:00:00:00:01\n').message).to.match(
      /:3: \[net\.eth0\] mac: MAC 01:00:00:00:00:01 is a multicast address$/,
    );
    expect(errorFor('[net.eth0]\ntap = a-very-long-tap-name\n').message).to.match(/:2: \[net\.eth0\] tap: tap name must be 1-15 letters/);
    expect(errorFor('[vsock]\ncid = 2\n').message).to.match(/:2: \[vsock\] cid: cid must be from 3 to \d+ \(0-2 are reserved\)$/);
    expect(errorFor(`[vsock]\ncid = 3\nuds = ${'x'.repeat(200)}\n`).message).to.match(
      /:3: \[vsock\] uds: socket path .* is too long for a unix socket/,
    );
  });
});
