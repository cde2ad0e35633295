// `mvm image info`: what an image is, shaped like `qemu-img info` (text and JSON).
import * as fs from 'node:fs';
import { resolveBackingName } from './backing-name.js';
import { probeFormat } from './open.js';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTL2, STAT_BLOCK_BYTES } from './qcow2/constants.js';
import { Qcow2Image } from './qcow2/image.js';
import { listSnapshots } from './qcow2/snapshot.js';
import { snapshotDiskSize } from './qcow2/snapshot-table.js';
import { formatSize } from '../units/size.js';

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size': number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'dirty-flag'?: boolean;
  snapshots?: Array<{ id: string; name: string; 'vm-state-size': number; 'date-sec': number; 'date-nsec': number; 'disk-size'?: number }>;
  'format-specific'?: {
    type: 'qcow2';
    data: {
      compat: string;
      'compression-type': string;
      'lazy-refcounts': boolean;
      'refcount-bits': number;
      corrupt: boolean;
      'extended-l2': boolean;
    };
  };
}

export function imageInfo(path: string): ImageInfo {
  const format = probeFormat(path);
  const actual = fs.statSync(path).blocks * STAT_BLOCK_BYTES;
  if (format === 'raw') return { filename: path, format, 'virtual-size': fs.statSync(path).size, 'actual-size': actual };
  // Read-only, without the backing chain's data: info must work even when the base is missing.
  const image = Qcow2Image.open(path, { readOnly: true, skipBacking: true });
  try {
    const h = image.header;
    const info: ImageInfo = { filename: path, format, 'virtual-size': h.size, 'actual-size': actual, 'cluster-size': h.clusterSize };
    if (h.backingFile !== undefined) {
      info['backing-filename'] = h.backingFile;
      try {
        info['full-backing-filename'] = resolveBackingName(path, h.backingFile);
      } catch {
        /* refused names are shown as stored */
      }
      if (h.backingFormat) info['backing-filename-format'] = h.backingFormat;
    }
    const snaps = listSnapshots(image);
    if (snaps.length) {
      info.snapshots = snaps.map((s) => ({
        id: s.id,
        name: s.name,
        'vm-state-size': s.vmStateSize,
        'date-sec': s.dateSeconds,
        'date-nsec': s.dateNanos,
        ...(snapshotDiskSize(s) !== undefined ? { 'disk-size': snapshotDiskSize(s) } : {}),
      }));
    }
    info['dirty-flag'] = (h.incompatible & INCOMPAT_DIRTY) !== 0;
    info['format-specific'] = {
      type: 'qcow2',
      data: {
        compat: h.version === 2 ? '0.10' : '1.1',
        'compression-type': h.compressionType === 0 ? 'zlib' : 'zstd',
        'lazy-refcounts': (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0,
        'refcount-bits': 1 << h.refcountOrder,
        corrupt: (h.incompatible & INCOMPAT_CORRUPT) !== 0,
        'extended-l2': (h.incompatible & INCOMPAT_EXTL2) !== 0,
      },
    };
    return info;
  } finally {
    image.closeSync();
  }
}

export const SNAPSHOT_HEADING = 'ID        TAG                 DATE';

/** One line of a snapshot listing, in columns like qemu-img's. */
export function snapshotRow(id: string, name: string, dateSeconds: number): string {
  const MS_PER_S = 1000;
  const date = new Date(dateSeconds * MS_PER_S)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
  return `${id.padEnd(10)}${name.padEnd(20)}${date}`;
}

export function formatInfo(info: ImageInfo): string {
  const lines = [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${formatSize(info['virtual-size'])} (${info['virtual-size']} bytes)`,
    `disk size: ${formatSize(info['actual-size'])}`,
  ];
  if (info['cluster-size']) lines.push(`cluster_size: ${info['cluster-size']}`);
  if (info['backing-filename'] !== undefined) {
    const full = info['full-backing-filename'];
    lines.push(`backing file: ${info['backing-filename']}${full && full !== info['backing-filename'] ? ` (actual path: ${full})` : ''}`);
    if (info['backing-filename-format']) lines.push(`backing file format: ${info['backing-filename-format']}`);
  }
  if (info.snapshots) {
    lines.push('Snapshot list:', SNAPSHOT_HEADING);
    for (const s of info.snapshots) lines.push(snapshotRow(s.id, s.name, s['date-sec']));
  }
  const fs2 = info['format-specific'];
  if (fs2) {
    lines.push('Format specific information:');
    lines.push(
      `    compat: ${fs2.data.compat}`,
      `    compression type: ${fs2.data['compression-type']}`,
      `    lazy refcounts: ${fs2.data['lazy-refcounts']}`,
      `    refcount bits: ${fs2.data['refcount-bits']}`,
      `    corrupt: ${fs2.data.corrupt}`,
      `    extended l2: ${fs2.data['extended-l2']}`,
    );
  }
  return lines.join('\n');
}
