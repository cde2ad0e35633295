// The vCPU threads answer virtio-mmio's InterruptStatus read and InterruptACK
// write from the transport's shared word: the answers must be the ones the
// transport gives, including the bits an acknowledgement may not clear (a
// vhost-user device's used-buffer bit), and every other access must fall
// through to the transport.
import { expect } from 'chai';
import { Interrupt, Reg } from '../../src/virtio/constants.js';
import { InterruptRegisterFastPath } from '../../src/virtio/interrupt-fast-path.js';

const BASE_A = 0xd000_0000;
const BASE_B = 0xd000_1000;

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

function readU32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

describe('virtio interrupt registers answered on the vCPU thread', () => {
  const wordA = new Int32Array(new SharedArrayBuffer(4));
  const wordB = new Int32Array(new SharedArrayBuffer(4));
  const fastPath = new InterruptRegisterFastPath([
    { base: BASE_A, interruptStatus: wordA.buffer as SharedArrayBuffer, ackKeeps: 0 },
    { base: BASE_B, interruptStatus: wordB.buffer as SharedArrayBuffer, ackKeeps: Interrupt.USED_BUFFER },
  ]);

  beforeEach(() => {
    Atomics.store(wordA, 0, Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
    Atomics.store(wordB, 0, Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
  });

  it('reads the slot’s own InterruptStatus word', () => {
    Atomics.store(wordA, 0, Interrupt.CONFIG_CHANGE);
    const data = new Uint8Array(4);
    expect(fastPath.handle(BASE_A + Reg.INTERRUPT_STATUS, false, data)).to.equal(true);
    expect(readU32(data)).to.equal(Interrupt.CONFIG_CHANGE);
  });

  it('clears the acknowledged bits only', () => {
    expect(fastPath.handle(BASE_A + Reg.INTERRUPT_ACK, true, u32(Interrupt.USED_BUFFER))).to.equal(true);
    expect(Atomics.load(wordA, 0)).to.equal(Interrupt.CONFIG_CHANGE);
    expect(Atomics.load(wordB, 0)).to.equal(Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
  });

  it('leaves set the bits an acknowledgement may not clear (a vhost-user device’s used-buffer bit)', () => {
    expect(fastPath.handle(BASE_B + Reg.INTERRUPT_ACK, true, u32(Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE))).to.equal(true);
    expect(Atomics.load(wordB, 0)).to.equal(Interrupt.USED_BUFFER);
  });

  it('passes every other access on: other registers, other widths, other addresses, a write to the status', () => {
    expect(fastPath.handle(BASE_A + Reg.STATUS, false, new Uint8Array(4))).to.equal(false);
    expect(fastPath.handle(BASE_A + Reg.INTERRUPT_STATUS, false, new Uint8Array(2))).to.equal(false);
    expect(fastPath.handle(BASE_A + Reg.INTERRUPT_STATUS, true, u32(0))).to.equal(false);
    expect(fastPath.handle(BASE_A + Reg.INTERRUPT_ACK, false, new Uint8Array(4))).to.equal(false);
    expect(fastPath.handle(0xd000_2000 + Reg.INTERRUPT_STATUS, false, new Uint8Array(4))).to.equal(false);
    expect(Atomics.load(wordA, 0)).to.equal(Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
  });
});
