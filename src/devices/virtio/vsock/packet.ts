// The virtio-vsock packet header (VIRTIO 1.2, 5.10.6): 44 little-endian
// bytes in front of every packet on the rx and tx queues. Everything here
// comes from the guest on tx and is hostile; validate() says what is wrong
// with a header before the device acts on it.

/** sizeof(struct virtio_vsock_hdr). */
export const HEADER_SIZE = 44;
/** The host's CID is always 2 (VMADDR_CID_HOST, 5.10.4). */
export const HOST_CID = 2;
/** CIDs 0-2 are reserved (hypervisor, local, host); a guest's CID is 3 or more. */
export const MIN_GUEST_CID = 3;
/** The largest CID a guest may have: CIDs are 32-bit in the socket API (0xffffffff is VMADDR_CID_ANY). */
export const MAX_GUEST_CID = 0xffff_fffe;
/** VIRTIO_VSOCK_TYPE_STREAM; SEQPACKET is not offered. */
export const TYPE_STREAM = 1;
/** Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE: no packet carries more payload than this. */
export const MAX_PAYLOAD = 64 * 1024;

export const Op = {
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;
const KNOWN_OPS = new Set<number>(Object.values(Op));

/** SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more. */
export const SHUTDOWN_RCV = 1;
export const SHUTDOWN_SEND = 2;

export interface Header {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export function decodeHeader(bytes: Uint8Array): Header {
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  return {
    srcCid: v.getBigUint64(0, true),
    dstCid: v.getBigUint64(8, true),
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type: v.getUint16(28, true),
    op: v.getUint16(30, true),
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

export function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, h.srcCid, true);
  v.setBigUint64(8, h.dstCid, true);
  v.setUint32(16, h.srcPort >>> 0, true);
  v.setUint32(20, h.dstPort >>> 0, true);
  v.setUint32(24, h.len >>> 0, true);
  v.setUint16(28, h.type, true);
  v.setUint16(30, h.op, true);
  v.setUint32(32, h.flags >>> 0, true);
  v.setUint32(36, h.bufAlloc >>> 0, true);
  v.setUint32(40, h.fwdCnt >>> 0, true);
  return out;
}

/**
 * Why a header the guest sent cannot be acted on, or undefined when it can.
 * `payloadRoom` is how many readable bytes follow the header in the chain.
 */
export function headerProblem(h: Header, guestCid: bigint, payloadRoom: number): string | undefined {
  if (h.srcCid !== guestCid) return `source CID ${h.srcCid} is not the guest's ${guestCid}`;
  if (h.dstCid !== BigInt(HOST_CID)) return `destination CID ${h.dstCid} is not the host (${HOST_CID})`;
  if (h.type !== TYPE_STREAM) return `socket type ${h.type} is not STREAM (${TYPE_STREAM})`;
  if (!KNOWN_OPS.has(h.op)) return `unknown operation ${h.op}`;
  if (h.len > MAX_PAYLOAD) return `payload length ${h.len} is above the ${MAX_PAYLOAD}-byte maximum`;
  if (h.len > payloadRoom) return `payload length ${h.len} is more than the ${payloadRoom} bytes after the header`;
  if (h.op !== Op.RW && h.len !== 0) return `operation ${h.op} carries ${h.len} payload bytes; only RW may`;
  return undefined;
}
