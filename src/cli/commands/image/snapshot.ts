// mvm image snapshot (-c NAME | -l | -a NAME | -d NAME) FILE
import type { Command } from 'commander';
import { UserError } from '../../../errors.js';
import { ImageError } from '../../../disk/errors.js';
import { SNAPSHOT_HEADING, snapshotRow } from '../../../disk/info.js';
import { refuseIfInUse } from '../../../disk/image-lock.js';
import { probeFormat } from '../../../disk/open.js';
import { Qcow2Image } from '../../../disk/qcow2/image.js';
import { applySnapshot, createSnapshot, deleteSnapshot, listSnapshots } from '../../../disk/qcow2/snapshot.js';

export function registerSnapshot(image: Command): void {
  image
    .command('snapshot')
    .description('create, list, apply or delete internal snapshots of a qcow2 image')
    .argument('<file>')
    .option('-c, --create <name>', 'create a snapshot of the current contents')
    .option('-l, --list', 'list snapshots')
    .option('-a, --apply <name>', 'revert the image to a snapshot')
    .option('-d, --delete <name>', 'delete a snapshot')
    .action(async (file: string, o: { create?: string; list?: boolean; apply?: string; delete?: string }) => {
      const chosen = [o.create, o.list, o.apply, o.delete].filter((x) => x !== undefined).length;
      if (chosen !== 1) throw new UserError('give exactly one of -c NAME, -l, -a NAME, -d NAME');
      if (probeFormat(file) !== 'qcow2') throw new ImageError(file, 'only qcow2 images have snapshots');
      if (!o.list) await refuseIfInUse(file);
      const img = Qcow2Image.open(file, { readOnly: !!o.list, skipBacking: true });
      try {
        if (o.list) {
          const rows = listSnapshots(img).map((s) => `${snapshotRow(s.id, s.name, s.dateSeconds)}\n`);
          process.stdout.write(`Snapshot list:\n${SNAPSHOT_HEADING}\n${rows.join('')}`);
        } else if (o.create !== undefined) {
          if (!o.create) throw new UserError('snapshot name must not be empty');
          createSnapshot(img, o.create);
        } else if (o.apply !== undefined) applySnapshot(img, o.apply);
        else deleteSnapshot(img, o.delete!);
      } finally {
        img.closeSync();
      }
    });
}
