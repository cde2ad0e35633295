// Snapshots mixed with writes in one session, against an in-memory model of
// the disk: after every run qemu-img check is clean, the active layer matches
// the model, and each surviving snapshot (applied by qemu-img) matches the
// contents it was taken from.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createQcow2 } from '../../src/disk/qcow2/create.js';
import { Qcow2Image } from '../../src/disk/qcow2/image.js';
import { applySnapshot, createSnapshot, deleteSnapshot } from '../../src/disk/qcow2/snapshot.js';
import { makeTempDir, mvmRaw, qemuCheck, qemuImg, qemuRaw, removeDir, seededRandom } from '../helpers/qcow2-oracle.js';

const SIZE = 1 << 20;
const CLUSTER = 4096;

describe('qcow2 snapshots interleaved with writes (model-checked)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  for (const seed of [1, 2, 3]) {
    it(`keeps every snapshot and the active layer right (seed ${seed})`, () => {
      const img = path.join(dir, 'f.qcow2');
      createQcow2(img, { size: SIZE, clusterBits: 12 });
      const rnd = seededRandom(seed);
      const model = Buffer.alloc(SIZE);
      const snaps = new Map<string, Buffer>();
      let d = Qcow2Image.open(img, { readOnly: false });
      const done = { create: 0, apply: 0, delete: 0 };
      for (let i = 0; i < 150; i++) {
        const dice = rnd(100);
        const length = 1 + rnd(20000);
        const offset = rnd(SIZE - length);
        if (dice < 60) {
          const v = 1 + rnd(250);
          d.writeSync(offset, Buffer.alloc(length, v));
          model.fill(v, offset, offset + length);
        } else if (dice < 68) {
          d.writeZeroesSync(offset, length);
          model.fill(0, offset, offset + length);
        } else if (dice < 75) {
          d.discardSync(offset, length); // whole clusters only, and they read as zeros afterwards
          const first = Math.ceil(offset / CLUSTER) * CLUSTER,
            end = Math.floor((offset + length) / CLUSTER) * CLUSTER;
          if (end > first) model.fill(0, first, end);
        } else if (dice < 85 && snaps.size < 4) {
          const name = `s${i}`;
          createSnapshot(d, name);
          snaps.set(name, Buffer.from(model));
          done.create++;
        } else if (dice < 92 && snaps.size > 0) {
          const name = [...snaps.keys()][rnd(snaps.size)]!;
          applySnapshot(d, name);
          snaps.get(name)!.copy(model);
          done.apply++;
        } else if (dice < 97 && snaps.size > 0) {
          const name = [...snaps.keys()][rnd(snaps.size)]!;
          deleteSnapshot(d, name);
          snaps.delete(name);
          done.delete++;
        } else {
          d.closeSync(); // also cross session boundaries now and then
          d = Qcow2Image.open(img, { readOnly: false });
        }
      }
      d.closeSync();
      expect(Math.min(done.create, done.apply, done.delete), JSON.stringify(done)).to.be.above(0);
      expect(qemuCheck(img)).to.equal(0);
      expect(mvmRaw(img).equals(model)).to.equal(true);
      for (const [name, contents] of snaps) {
        const copy = path.join(dir, `${name}.qcow2`);
        fs.copyFileSync(img, copy);
        qemuImg('snapshot', '-a', name, copy);
        expect(qemuRaw(copy).equals(contents), `snapshot ${name}`).to.equal(true);
      }
    });
  }
});
