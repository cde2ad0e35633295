// Numbers fixed by the qcow2 format (QEMU docs/interop/qcow2.txt) and the
// sanity limits mvm applies to untrusted images (QEMU's own limits).

/** "QFI\xfb" read as a big-endian u32. */
export const QCOW2_MAGIC = 0x514649fb;

/** Byte offsets of the fixed header fields (all big-endian). */
export const H = {
  magic: 0,
  version: 4,
  backingFileOffset: 8,
  backingFileSize: 16,
  clusterBits: 20,
  size: 24,
  cryptMethod: 32,
  l1Size: 36,
  l1TableOffset: 40,
  refcountTableOffset: 48,
  refcountTableClusters: 56,
  nbSnapshots: 60,
  snapshotsOffset: 64,
  // version 3 only:
  incompatibleFeatures: 72,
  compatibleFeatures: 80,
  autoclearFeatures: 88,
  refcountOrder: 96,
  headerLength: 100,
  compressionType: 104,
} as const;

/** A version 2 header stops here; a version 3 header is at least V3_MIN_HEADER bytes. */
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
/** What mvm writes for new v3 headers (QEMU 7.2 writes the same: 104 + compression type, padded to 8). */
export const V3_HEADER_LENGTH = 112;

/** Cluster sizes QEMU accepts: 512 B .. 2 MiB. */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const DEFAULT_CLUSTER_BITS = 16;
/** Refcount widths 1..64 bits are 1 << order. */
export const MAX_REFCOUNT_ORDER = 6;
export const DEFAULT_REFCOUNT_ORDER = 4;

/** Incompatible feature bits. */
export const INCOMPAT_DIRTY = 1 << 0;
export const INCOMPAT_CORRUPT = 1 << 1;
export const INCOMPAT_DATA_FILE = 1 << 2;
export const INCOMPAT_COMPRESSION = 1 << 3;
export const INCOMPAT_EXTL2 = 1 << 4;
/** Every incompatible bit mvm understands (data file is understood, then refused). */
export const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
/** Compatible feature bit 0: refcounts may be stale while the dirty bit is set. */
export const COMPAT_LAZY_REFCOUNTS = 1 << 0;

/** Header extension types. */
export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_NAMES = 0x6803f857;

/** QEMU's cap on the backing file name. */
export const MAX_BACKING_NAME = 1023;

/** Entry flag bits, in the high u32 of a 64-bit table entry. */
export const HI_COPIED = 0x80000000;
export const HI_COMPRESSED = 0x40000000;
/** Offset bits 9..55: the high half keeps bits 32..55, the low half 9..31. */
export const HI_OFFSET_MASK = 0x00ffffff;
export const LO_OFFSET_MASK = 0xfffffe00;
/** Reserved bits that must be zero: L1 entries 56..62 and 0..8, standard L2 entries 56..61 and 1..8. */
export const L1_HI_RESERVED = 0x7f000000;
export const L1_LO_RESERVED = 0x1ff;
export const L2_HI_RESERVED = 0x3f000000;
export const L2_LO_RESERVED = 0x1fe;
/** Extended L2 entries have no zero flag: bit 0 of their first word is reserved too. */
export const EXTL2_LO_RESERVED = 0x1ff;
/** Refcount table entries: offset in bits 9..63, so bits 56..63 (beyond any file) and 0..8 must be zero. */
export const REFTABLE_HI_INVALID = 0xff000000;
export const REFTABLE_LO_RESERVED = 0x1ff;
/** Standard L2 entry bit 0 (v3): the cluster reads as zeros. */
export const LO_ZERO = 1;
/** Extended L2: 32 subclusters per cluster. */
export const SUBCLUSTERS = 32;

/** Sanity limits (QEMU's), so a lying header cannot make us allocate gigabytes. */
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_SNAPSHOTS = 65536;
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024;
export const MAX_SNAPSHOT_EXTRA = 1024;
/** Offsets and sizes must stay exact in a JS number. */
export const MAX_SAFE_OFFSET = 2 ** 53;
/** Deepest backing chain mvm follows. */
export const MAX_BACKING_DEPTH = 32;

export const TWO_32 = 0x1_0000_0000;
/** A high u32 at or above this makes a u64 exceed 2^53 (no longer exact in a number). */
export const HI_SAFE_LIMIT = MAX_SAFE_OFFSET / TWO_32;
/** stat's st_blocks counts 512-byte units, whatever the filesystem block size. */
export const STAT_BLOCK_BYTES = 512;
