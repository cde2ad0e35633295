// Child process for the kill -9 specs: opens an image and writes, discards,
// zeroes and flushes at random until it is killed. Prints "ready" once it has
// started writing, so the parent kills it mid-work rather than at start-up.
import { openSync } from '../../src/disk/open.js';
import { Qcow2Image } from '../../src/disk/qcow2/image.js';
import { applySnapshot, createSnapshot, deleteSnapshot } from '../../src/disk/qcow2/snapshot.js';
import { seededRandom } from './qcow2-oracle.js';

const [image, seedText, withSnapshot] = process.argv.slice(2);
const rnd = seededRandom(Number(seedText));
if (withSnapshot === 'snapshot') {
  const img = Qcow2Image.open(image!, { readOnly: false });
  createSnapshot(img, 'before');
  img.closeSync();
}
if (withSnapshot === 'churn') {
  // Snapshots made, applied and deleted between writes, until killed: the metadata-heavy operations.
  const img = Qcow2Image.open(image!, { readOnly: false });
  for (let i = 0; ; i++) {
    for (let w = 0; w < 3; w++) {
      const length = 1 + rnd(100_000);
      img.writeSync(rnd(img.size - length), Buffer.alloc(length, 1 + rnd(250)));
    }
    createSnapshot(img, `s${i}`);
    if (i >= 2 && rnd(3) === 0) applySnapshot(img, `s${i - 1}`);
    if (i >= 2) deleteSnapshot(img, `s${i - 2}`);
    if (i === 3) process.stdout.write('ready\n');
  }
}
const disk = openSync(image!, { readOnly: false });
let announced = false;
for (let i = 0; ; i++) {
  const length = 1 + rnd(200_000);
  const offset = rnd(disk.size - length);
  const dice = rnd(10);
  if (dice < 7) disk.writeSync(offset, Buffer.alloc(length, 1 + rnd(250)));
  else if (dice < 8) disk.discardSync(offset, length);
  else disk.writeZeroesSync(offset, length);
  if (rnd(6) === 0) disk.flushSync();
  if (!announced && i > 10) {
    process.stdout.write('ready\n');
    announced = true;
  }
}
