import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driveSettings, parseDriveFlag } from '../../src/config/drive-option.js';
import { UserError } from '../../src/errors.js';

const SECTOR = 512;

describe('--disk option', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-drive-option-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses PATH, PATH,persistent and PATH,ro into absolute paths', () => {
    const image = join(dir, 'a.raw');
    writeFileSync(image, Buffer.alloc(SECTOR));
    expect(parseDriveFlag(image)).to.deep.equal({ path: image, mode: 'overlay' });
    expect(parseDriveFlag(`${image},persistent`)).to.deep.equal({ path: image, mode: 'persistent' });
    expect(parseDriveFlag(`${image},ro`)).to.deep.equal({ path: image, mode: 'ro' });
  });

  it('refuses a missing file, a directory, an unknown option and an empty path with one clear line', () => {
    const image = join(dir, 'a.raw');
    writeFileSync(image, Buffer.alloc(SECTOR));
    expect(() => parseDriveFlag(join(dir, 'nope.raw'))).to.throw(UserError, /^--disk \S+nope\.raw: \S+nope\.raw does not exist$/);
    expect(() => parseDriveFlag(dir)).to.throw(UserError, /not a regular file/);
    expect(() => parseDriveFlag(`${image},rw`)).to.throw(UserError, /unknown option "rw"/);
    expect(() => parseDriveFlag(',ro')).to.throw(UserError, /no image path/);
  });

  it('checks a path and a mode given apart (a --config section) with the same rules, naming the key', () => {
    const image = join(dir, 'a.raw,ro');
    writeFileSync(image, Buffer.alloc(SECTOR));
    expect(driveSettings(image, 'persistent')).to.deep.equal({ path: image, mode: 'persistent' });
    expect(() => driveSettings(image, 'rw'))
      .to.throw(UserError, /^must be overlay, persistent or ro, not "rw"$/)
      .with.property('key', 'mode');
    expect(() => driveSettings(dir))
      .to.throw(UserError, /is not a regular file or block device$/)
      .with.property('key', 'path');
  });
});
