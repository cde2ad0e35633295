// The virtio-fs device (src/devices/virtio/fs/device.ts) behind a real
// virtio-mmio transport, driven by the mock guest driver, with a fake
// vhost-user back-end on a socketpair: what the back-end is told when the
// driver starts the device (memory table with the RAM's descriptor, ring
// addresses translated into the front-end's address space, kick and call
// eventfds), and how failures become DEVICE_NEEDS_RESET instead of anything
// reaching the back-end.
import { expect } from 'chai';
import { GuestMemory } from '../../../src/memory/guest-memory.js';
import { memfd, close } from '../../../src/sys/libc.js';
import { UnixSocket } from '../../../src/sys/unix-socket.js';
import { EventNotifier } from '../../../src/sys/event-notifier.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { Interrupt, Reg, Status } from '../../../src/virtio/constants.js';
import { setWarningSink } from '../../../src/virtio/guest-errors.js';
import { VirtioFs } from '../../../src/devices/virtio/fs/device.js';
import { VhostUserFrontend } from '../../../src/devices/virtio/vhost-user/frontend.js';
import { HEADER_BYTES, Request } from '../../../src/devices/virtio/vhost-user/protocol.js';
import { MockDriver } from '../../helpers/mock-driver.js';

const RAM = 4 * 1024 * 1024;
const HOST_ADDRESS = 0x7f12_3400_0000n;
const BACKEND_FEATURES = (1n << 32n) | (1n << 28n) | (1n << 29n);

interface Sent {
  type: number;
  payload: DataView;
  fds: number[];
}

function drain(peer: UnixSocket): Sent[] {
  const out: Sent[] = [];
  while (peer.poll() === 'data') {
    const header = new Uint8Array(HEADER_BYTES);
    const got = peer.receive(header, 0, HEADER_BYTES);
    const v = new DataView(header.buffer);
    const size = v.getUint32(8, true);
    const payload = new Uint8Array(size);
    if (size > 0) peer.receive(payload, 0, size);
    out.push({ type: v.getUint32(0, true), payload: new DataView(payload.buffer), fds: got.fds });
  }
  return out;
}

describe('virtio-fs device with a fake vhost-user back-end', () => {
  let front: UnixSocket;
  let back: UnixSocket;
  let ramFd: number;
  let notifiers: EventNotifier[];
  let warnings: string[];
  let restoreSink: ReturnType<typeof setWarningSink>;

  beforeEach(() => {
    [front, back] = UnixSocket.pair(300);
    ramFd = memfd('spec-ram', RAM);
    notifiers = [EventNotifier.create(), EventNotifier.create(), EventNotifier.create()];
    warnings = [];
    restoreSink = setWarningSink((line) => warnings.push(line));
  });
  afterEach(() => {
    setWarningSink(restoreSink);
    front.close();
    back.close();
    for (const n of notifiers) n.close();
    close(ramFd);
  });

  function build(shared: boolean): { transport: MmioTransport; driver: MockDriver; device: VirtioFs } {
    const bytes = new Uint8Array(RAM);
    const memory = new GuestMemory([{ guestAddress: 0, bytes, ...(shared ? { file: { fd: ramFd, offset: 0, hostAddress: HOST_ADDRESS } } : {}) }]);
    const frontend = new VhostUserFrontend(front, 'fake virtiofsd', 300);
    const device = new VirtioFs('data', frontend, { features: BACKEND_FEATURES, protocolFeatures: 0n }, (line) => warnings.push(line));
    const transport = new MmioTransport(device, memory, { interrupt: () => {} });
    device.bindEventFds({ kicks: [notifiers[0]!.fd, notifiers[1]!.fd], call: notifiers[2]!.fd });
    return { transport, driver: new MockDriver(transport, memory), device };
  }

  it('offers the tag and one request queue in its configuration', () => {
    const { driver, device } = build(true);
    const config = driver.readConfig(0, 40);
    expect(Buffer.from(config.subarray(0, 4)).toString()).to.equal('data');
    expect(config.subarray(4, 36).every((b) => b === 0)).to.equal(true);
    expect(new DataView(config.buffer).getUint32(36, true)).to.equal(1);
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(26);
    device.close();
  });

  it('tells the back-end the memory table, the translated ring addresses and the kick and call eventfds at DRIVER_OK', () => {
    const { driver, device } = build(true);
    const status = driver.init({ queueCount: 2, queueSize: 256 });
    expect(status & Status.DEVICE_NEEDS_RESET).to.equal(0);
    const sent = drain(back);
    expect(sent.map((m) => m.type)).to.deep.equal([
      Request.SET_FEATURES,
      Request.SET_MEM_TABLE,
      ...[0, 1].flatMap(() => [
        Request.SET_VRING_NUM,
        Request.SET_VRING_ADDR,
        Request.SET_VRING_BASE,
        Request.SET_VRING_KICK,
        Request.SET_VRING_CALL,
      ]),
    ]);
    const table = sent[1]!;
    expect(table.payload.getUint32(0, true)).to.equal(1);
    expect(table.payload.getBigUint64(8, true)).to.equal(0n); // guest address
    expect(table.payload.getBigUint64(16, true)).to.equal(BigInt(RAM));
    expect(table.payload.getBigUint64(24, true)).to.equal(HOST_ADDRESS);
    expect(table.fds).to.have.length(1);
    for (const q of [0, 1]) {
      const addr = sent[2 + q * 5 + 1]!.payload;
      expect(addr.getUint32(0, true)).to.equal(q);
      expect(addr.getBigUint64(8, true)).to.equal(HOST_ADDRESS + BigInt(driver.queues[q]!.desc));
      expect(addr.getBigUint64(16, true)).to.equal(HOST_ADDRESS + BigInt(driver.queues[q]!.used));
      expect(addr.getBigUint64(24, true)).to.equal(HOST_ADDRESS + BigInt(driver.queues[q]!.avail));
      expect(sent[2 + q * 5 + 3]!.fds, `kick of queue ${q}`).to.have.length(1);
      expect(sent[2 + q * 5 + 4]!.fds, `call of queue ${q}`).to.have.length(1);
    }
    for (const m of sent) for (const fd of m.fds) close(fd);
    // The back-end raises the interrupt itself, so the used-ring bit always reads as set while the device runs.
    expect(driver.readReg(Reg.INTERRUPT_STATUS) & Interrupt.USED_BUFFER).to.equal(Interrupt.USED_BUFFER);
    driver.writeReg(Reg.INTERRUPT_ACK, Interrupt.USED_BUFFER);
    expect(driver.readReg(Reg.INTERRUPT_STATUS) & Interrupt.USED_BUFFER).to.equal(Interrupt.USED_BUFFER);
    device.close();
  });

  it('needs a reset, telling the back-end nothing about the rings, when guest RAM is not shared memory', () => {
    const { driver, device } = build(false);
    const status = driver.init({ queueCount: 2, queueSize: 256 });
    expect(status & Status.DEVICE_NEEDS_RESET).to.equal(Status.DEVICE_NEEDS_RESET);
    const types = drain(back).map((m) => m.type);
    expect(types).to.not.include(Request.SET_VRING_ADDR);
    expect(types).to.not.include(Request.SET_MEM_TABLE);
    expect(warnings.join('\n')).to.match(/not shared memory/);
    device.close();
  });

  it('needs a reset when the back-end hangs up while the device runs, and the VMM carries on', async () => {
    const { driver, device } = build(true);
    driver.init({ queueCount: 2, queueSize: 256 });
    for (const m of drain(back)) for (const fd of m.fds) close(fd);
    back.close();
    const deadline = Date.now() + 2000;
    while (!(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET).to.equal(Status.DEVICE_NEEDS_RESET);
    expect(warnings.join('\n')).to.match(/virtio-fs \(data\): fake virtiofsd closed the connection; the device needs a reset/);
    [front, back] = UnixSocket.pair(300); // for afterEach
    device.close();
  });
});
