// The guest side of vsock for specs: builds packets on the tx queue and reads
// the device's packets back from posted rx buffers, through the MockDriver.
import { HEADER_SIZE, HOST_CID, Op, TYPE_STREAM, decodeHeader, encodeHeader, type Header } from '../../../src/devices/virtio/vsock/packet.js';
import type { MockDriver } from '../../helpers/mock-driver.js';

export const GUEST_CID = 3;
const RX = 0;
const TX = 1;
/** What the mock guest advertises as its receive buffer. */
export const GUEST_BUF_ALLOC = 64 * 1024;

export interface Packet {
  header: Header;
  payload: number[];
}

export class VsockGuest {
  fwdCnt = 0;
  bufAlloc = GUEST_BUF_ALLOC;
  private readonly rxBuffers = new Map<number, number>();

  constructor(readonly driver: MockDriver) {}

  header(fields: Partial<Header>): Header {
    return {
      srcCid: BigInt(GUEST_CID),
      dstCid: BigInt(HOST_CID),
      srcPort: 1000,
      dstPort: 5000,
      len: 0,
      type: TYPE_STREAM,
      op: Op.RW,
      flags: 0,
      bufAlloc: this.bufAlloc,
      fwdCnt: this.fwdCnt,
      ...fields,
    };
  }

  /** Sends one packet (header and payload in separate descriptors, as Linux does). */
  send(fields: Partial<Header>, payload?: Uint8Array): void {
    const header = this.header({ len: payload?.length ?? 0, ...fields });
    const buffers = [{ length: HEADER_SIZE, data: encodeHeader(header) }];
    if (payload && payload.length > 0) buffers.push({ length: payload.length, data: payload });
    this.driver.addChain(TX, buffers);
    this.driver.notify(TX);
    this.driver.takeUsed(TX);
  }

  /** Posts `count` receive buffers of `size` bytes. */
  postRx(count: number, size = HEADER_SIZE + 4096): void {
    for (let i = 0; i < count; i++) {
      const { head, addresses } = this.driver.addChain(RX, [{ length: size, write: true }]);
      this.rxBuffers.set(head, addresses[0]!);
    }
    this.driver.notify(RX);
  }

  /** Packets the device delivered since the last call. */
  receive(): Packet[] {
    return this.driver.takeUsed(RX).map(({ id, length }) => {
      const address = this.rxBuffers.get(id)!;
      const bytes = this.driver.memory.read(address, length);
      const header = decodeHeader(bytes);
      return { header, payload: [...bytes.subarray(HEADER_SIZE, HEADER_SIZE + header.len)] };
    });
  }
}
