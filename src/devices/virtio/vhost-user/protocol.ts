// The vhost-user wire format (QEMU's docs/interop/vhost-user.rst, "Message
// Specification"): a 12-byte header (request, flags, payload size, all
// little-endian u32) and a payload whose layout depends on the request. This
// file encodes the front-end's requests and checks the back-end's replies; it
// does no I/O. Everything a back-end sends is hostile: a reply is accepted only
// when its request type, flags and size are exactly what was asked for.

/** Front-end → back-end requests mvm sends (the numbers are the protocol's). */
export const Request = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  SET_MEM_TABLE: 5,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  SET_VRING_ENABLE: 18,
} as const;

export const HEADER_BYTES = 12;
/** Flags: bits 0-1 carry the protocol version, which is 1. */
const VERSION = 0x1;
const VERSION_MASK = 0x3;
/** Set by the back-end on every reply. */
const FLAG_REPLY = 0x4;
/** Set by the front-end to ask for an acknowledgement (REPLY_ACK negotiated). */
const FLAG_NEED_REPLY = 0x8;

/** Virtio feature bit 30 in GET_FEATURES: the back-end speaks GET/SET_PROTOCOL_FEATURES. */
export const F_PROTOCOL_FEATURES = 1n << 30n;
/** Protocol feature bit 3: requests with NEED_REPLY get a u64 status reply. */
export const PROTOCOL_F_REPLY_ACK = 1n << 3n;
/** The protocol features mvm implements (and so may accept from a back-end). */
export const SUPPORTED_PROTOCOL_FEATURES = PROTOCOL_F_REPLY_ACK;

/** SET_VRING_KICK/CALL: bits 0-7 of the u64 are the queue index; bit 8 says no descriptor is attached. */
const VRING_INDEX_MASK = 0xffn;
/** At most this many regions in one SET_MEM_TABLE (the protocol's VHOST_MEMORY_BASELINE_NREGIONS). */
export const MAX_MEMORY_REGIONS = 8;
const MEMORY_REGION_BYTES = 32;
/** struct vhost_vring_addr: index, flags (u32); desc, used, avail, log (u64). */
const VRING_ADDR_BYTES = 40;
/** struct vhost_vring_state: index, num (u32). */
const VRING_STATE_BYTES = 8;
const U64_BYTES = 8;

/** A reply the back-end should not have sent: the connection cannot be trusted any more. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface Message {
  readonly bytes: Uint8Array;
  /** Descriptors sent with the message. */
  readonly fds: readonly number[];
}

/** One region of guest RAM as the back-end is to map it. */
export interface MemoryTableRegion {
  readonly guestAddress: bigint;
  readonly size: bigint;
  /** The front-end's own address of the region (SET_VRING_ADDR speaks in these). */
  readonly userAddress: bigint;
  /** Offset of the region in its file. */
  readonly fileOffset: bigint;
  readonly fd: number;
}

export interface VringAddresses {
  readonly index: number;
  /** Front-end addresses (within the memory table's user addresses). */
  readonly desc: bigint;
  readonly used: bigint;
  readonly avail: bigint;
}

function message(request: number, payloadBytes: number, needReply: boolean, fill?: (view: DataView) => void, fds: readonly number[] = []): Message {
  const bytes = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, request, true);
  view.setUint32(4, VERSION | (needReply ? FLAG_NEED_REPLY : 0), true);
  view.setUint32(8, payloadBytes, true);
  fill?.(new DataView(bytes.buffer, HEADER_BYTES));
  return { bytes, fds };
}

export function encodeNoPayload(request: number, needReply = false): Message {
  return message(request, 0, needReply);
}

export function encodeU64(request: number, value: bigint, needReply = false): Message {
  return message(request, U64_BYTES, needReply, (v) => v.setBigUint64(0, value, true));
}

export function encodeVringState(request: number, index: number, num: number, needReply = false): Message {
  return message(request, VRING_STATE_BYTES, needReply, (v) => {
    v.setUint32(0, index, true);
    v.setUint32(4, num, true);
  });
}

export function encodeVringAddr(a: VringAddresses, needReply = false): Message {
  return message(Request.SET_VRING_ADDR, VRING_ADDR_BYTES, needReply, (v) => {
    v.setUint32(0, a.index, true);
    v.setUint32(4, 0, true); // no VHOST_VRING_F_LOG: mvm does not log dirty pages
    v.setBigUint64(8, a.desc, true);
    v.setBigUint64(16, a.used, true);
    v.setBigUint64(24, a.avail, true);
    v.setBigUint64(32, 0n, true);
  });
}

/** SET_VRING_KICK / SET_VRING_CALL with the eventfd attached. */
export function encodeVringFd(request: number, index: number, fd: number, needReply = false): Message {
  return message(request, U64_BYTES, needReply, (v) => v.setBigUint64(0, BigInt(index) & VRING_INDEX_MASK, true), [fd]);
}

/** SET_MEM_TABLE: struct vhost_user_memory (nregions, padding, regions[]) and one descriptor per region. */
export function encodeMemTable(regions: readonly MemoryTableRegion[], needReply = false): Message {
  if (regions.length === 0 || regions.length > MAX_MEMORY_REGIONS)
    throw new RangeError(`${regions.length} memory regions (1..${MAX_MEMORY_REGIONS})`);
  return message(
    Request.SET_MEM_TABLE,
    U64_BYTES + regions.length * MEMORY_REGION_BYTES,
    needReply,
    (v) => {
      v.setUint32(0, regions.length, true);
      regions.forEach((r, i) => {
        const at = U64_BYTES + i * MEMORY_REGION_BYTES;
        v.setBigUint64(at, r.guestAddress, true);
        v.setBigUint64(at + 8, r.size, true);
        v.setBigUint64(at + 16, r.userAddress, true);
        v.setBigUint64(at + 24, r.fileOffset, true);
      });
    },
    regions.map((r) => r.fd),
  );
}

/** A reply header, checked against the request it answers. Returns the payload size the header announces. */
export function checkReplyHeader(header: Uint8Array, request: number, expectedPayload: number): number {
  if (header.length !== HEADER_BYTES) throw new ProtocolError(`reply header of ${header.length} bytes`);
  const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
  const type = view.getUint32(0, true);
  const flags = view.getUint32(4, true);
  const size = view.getUint32(8, true);
  if (type !== request) throw new ProtocolError(`reply to request ${type} where request ${request} was asked`);
  if ((flags & VERSION_MASK) !== VERSION) throw new ProtocolError(`reply with protocol version ${flags & VERSION_MASK}`);
  if (!(flags & FLAG_REPLY)) throw new ProtocolError(`message of type ${type} without the reply flag`);
  if (size !== expectedPayload) throw new ProtocolError(`reply to request ${request} with a ${size}-byte payload (expected ${expectedPayload})`);
  return size;
}

export function decodeU64(payload: Uint8Array): bigint {
  if (payload.length !== U64_BYTES) throw new ProtocolError(`u64 payload of ${payload.length} bytes`);
  return new DataView(payload.buffer, payload.byteOffset, U64_BYTES).getBigUint64(0, true);
}

/** GET_VRING_BASE's reply: the index must be the queue asked about. */
export function decodeVringState(payload: Uint8Array, index: number): number {
  if (payload.length !== VRING_STATE_BYTES) throw new ProtocolError(`vring state payload of ${payload.length} bytes`);
  const view = new DataView(payload.buffer, payload.byteOffset, VRING_STATE_BYTES);
  const replied = view.getUint32(0, true);
  if (replied !== index) throw new ProtocolError(`vring state for queue ${replied} where queue ${index} was asked`);
  return view.getUint32(4, true);
}

export const PAYLOAD_BYTES = { u64: U64_BYTES, vringState: VRING_STATE_BYTES } as const;
