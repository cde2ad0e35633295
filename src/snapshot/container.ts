// The envelope of a snapshot's state file: a fixed header that says what the
// file is (magic), which format it is in (version), how long its payload is
// and a SHA-256 of that payload, then the payload (UTF-8 JSON). Reading checks
// the envelope before parsing anything inside it, so a truncated, corrupted,
// foreign or future file is refused in one line, with nothing started.
//
//   0   8  magic "MVM-SNAP"
//   8   4  format version (u32 LE)
//   12  4  reserved, 0
//   16  8  payload length in bytes (u64 LE)
//   24 32  SHA-256 of the payload
//   56  …  payload
import { createHash } from 'node:crypto';
import { SnapshotError } from './snapshot-error.js';

const MAGIC = Buffer.from('MVM-SNAP', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 56;
const VERSION_OFFSET = 8;
const RESERVED_OFFSET = 12;
const LENGTH_OFFSET = 16;
const DIGEST_OFFSET = 24;
const DIGEST_BYTES = 32;
/** A state file is tens of KiB per vCPU; anything near this is not one of ours. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export function encodeContainer(payload: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(FORMAT_VERSION, VERSION_OFFSET);
  header.writeBigUInt64LE(BigInt(body.length), LENGTH_OFFSET);
  createHash('sha256').update(body).digest().copy(header, DIGEST_OFFSET);
  return Buffer.concat([header, body]);
}

/** The payload of a state file, parsed as JSON; `name` is how the file is called in errors. */
export function decodeContainer(file: Buffer, name: string): unknown {
  if (file.length < MAGIC.length || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotError(`${name} is not an mvm snapshot state file (no MVM-SNAP header)`);
  }
  if (file.length < HEADER_BYTES) throw new SnapshotError(`${name} is truncated: ${file.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const version = file.readUInt32LE(VERSION_OFFSET);
  if (version > FORMAT_VERSION) {
    throw new SnapshotError(`${name} is in snapshot format ${version}, made by a newer mvm; this one reads format ${FORMAT_VERSION}`);
  }
  if (version !== FORMAT_VERSION) throw new SnapshotError(`${name} is in snapshot format ${version}, which no mvm wrote`);
  if (file.readUInt32LE(RESERVED_OFFSET) !== 0) throw new SnapshotError(`${name} has reserved header bits set: not a format this mvm knows`);
  const length = file.readBigUInt64LE(LENGTH_OFFSET);
  if (length > BigInt(MAX_PAYLOAD_BYTES)) throw new SnapshotError(`${name} claims a ${length}-byte state, more than mvm ever writes`);
  const body = file.subarray(HEADER_BYTES);
  if (BigInt(body.length) < length) throw new SnapshotError(`${name} is truncated: ${body.length} of ${length} state bytes`);
  if (BigInt(body.length) > length) throw new SnapshotError(`${name} has ${BigInt(body.length) - length} bytes after its state`);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(file.subarray(DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_BYTES))) {
    throw new SnapshotError(`${name} is corrupted: its checksum does not match its contents`);
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new SnapshotError(`${name} holds a checksummed state that is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}
