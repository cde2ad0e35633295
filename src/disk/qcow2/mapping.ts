// What one guest byte range maps to in a qcow2 file, decoded from the L2
// entry (standard 64-bit or extended 128-bit entries).
import { ImageError } from '../errors.js';
import { HI_COMPRESSED, HI_COPIED, HI_OFFSET_MASK, LO_OFFSET_MASK, LO_ZERO, SUBCLUSTERS, TWO_32 } from './constants.js';

export enum Kind {
  /** Not in this layer: read the backing image, or zeros. */
  Unallocated = 0,
  /** Reads as zeros (a ZERO entry, or an extended-L2 zero subcluster). */
  Zero = 1,
  /** Plain data at `host`. */
  Data = 2,
  /** A compressed cluster: descriptor halves in `hi`/`lo`. */
  Compressed = 3,
}

export interface Mapping {
  kind: Kind;
  /** Data: host offset of the guest byte asked for. Zero: preallocated offset or 0. */
  host: number;
  /** Bytes from the guest byte to the end of the granule (cluster or subcluster). */
  avail: number;
  /** The raw first word of the L2 entry (for compressed descriptors and COPIED). */
  hi: number;
  lo: number;
}

export interface L2Geometry {
  clusterSize: number;
  extendedL2: boolean;
  version: number;
}

/** Decodes the entry at byte `at` of an L2 table for guest offset `inCluster` within its cluster. */
export function decodeEntry(path: string, l2: Buffer, at: number, inCluster: number, g: L2Geometry): Mapping {
  const hi = l2.readUInt32BE(at);
  const lo = l2.readUInt32BE(at + 4);
  const clusterRest = g.clusterSize - inCluster;
  if (hi & HI_COMPRESSED) return { kind: Kind.Compressed, host: 0, avail: clusterRest, hi, lo };
  const host = (hi & HI_OFFSET_MASK) * TWO_32 + ((lo & LO_OFFSET_MASK) >>> 0);
  if (host % g.clusterSize !== 0) throw new ImageError(path, `L2 entry points at unaligned offset ${host}`);
  if (g.extendedL2) {
    const sub = g.clusterSize / SUBCLUSTERS;
    const s = Math.floor(inCluster / sub);
    const zeroBits = l2.readUInt32BE(at + 8);
    const allocBits = l2.readUInt32BE(at + 12);
    const avail = sub - (inCluster % sub);
    const isZero = (zeroBits >>> s) & 1,
      isAlloc = (allocBits >>> s) & 1;
    if (isZero && isAlloc) throw new ImageError(path, 'extended L2 entry marks a subcluster both allocated and zero');
    if (isZero) return { kind: Kind.Zero, host: 0, avail, hi, lo };
    if (!isAlloc) return { kind: Kind.Unallocated, host: 0, avail, hi, lo };
    if (host === 0) throw new ImageError(path, 'extended L2 entry has allocated subclusters but no cluster offset');
    return { kind: Kind.Data, host: host + inCluster, avail, hi, lo };
  }
  if (g.version >= 3 && lo & LO_ZERO) return { kind: Kind.Zero, host, avail: clusterRest, hi, lo };
  if (host === 0) return { kind: Kind.Unallocated, host: 0, avail: clusterRest, hi, lo };
  return { kind: Kind.Data, host: host + inCluster, avail: clusterRest, hi, lo };
}

export function isCopied(m: Mapping): boolean {
  return (m.hi & HI_COPIED) !== 0;
}
