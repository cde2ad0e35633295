import { expect } from 'chai';
import { VirtioVsock, MAX_CONNECTIONS } from '../../../src/devices/virtio/vsock/device.js';
import { HOST_BUF_ALLOC } from '../../../src/devices/virtio/vsock/connection.js';
import { HEADER_SIZE, HOST_CID, MAX_PAYLOAD, Op, SHUTDOWN_RCV, SHUTDOWN_SEND } from '../../../src/devices/virtio/vsock/packet.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { DeviceId, Reg, Status } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';
import { FakeHost, type FakeStream } from './vsock-fake-host.js';
import { GUEST_BUF_ALLOC, GUEST_CID, VsockGuest } from './vsock-guest.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const GUEST_PORT = 1000;
const HOST_PORT = 5000;

describe('virtio-vsock device', () => {
  let warnings: string[];
  let restore: () => void;
  let host: FakeHost;
  let vsock: VirtioVsock;
  let driver: MockDriver;
  let guest: VsockGuest;

  beforeEach(() => {
    warnings = [];
    restore = captureWarnings(warnings);
    host = new FakeHost();
    vsock = new VirtioVsock(GUEST_CID, host);
    const memory = smallMemory(16 << 20);
    driver = new MockDriver(new MmioTransport(vsock, memory, { interrupt: () => {} }), memory);
    expect(driver.init({ queueCount: 3 }) & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
    guest = new VsockGuest(driver);
  });
  afterEach(() => restore());

  /** The guest connects to the host port and the host program accepts. */
  function guestConnects(): FakeStream {
    guest.send({ op: Op.REQUEST });
    const { port, stream } = host.connects.at(-1)!;
    expect(port).to.equal(HOST_PORT);
    stream.events!.connected();
    const [response] = guest.receive();
    expect(response!.header.op).to.equal(Op.RESPONSE);
    return stream;
  }

  it('is device 19 with the guest CID in config space and three queues', () => {
    expect(driver.readReg(Reg.DEVICE_ID)).to.equal(DeviceId.VSOCK);
    expect(new DataView(driver.readConfig(0, 8).buffer).getBigUint64(0, true)).to.equal(BigInt(GUEST_CID));
    expect(vsock.queueMaxSizes).to.have.length(3);
  });

  it('sends a transport reset on the event queue when asked (after a restore), once per posted event buffer', () => {
    expect(vsock.transportReset(), 'no event buffer posted yet').to.equal(false);
    const { head, addresses } = driver.addChain(2, [{ length: 4, write: true }]);
    driver.memory.writeU32(addresses[0]!, 0xffff_ffff);
    driver.notify(2);
    expect(driver.takeUsed(2)).to.deep.equal([], 'event buffers stay with the device until needed');
    expect(vsock.transportReset()).to.equal(true);
    expect(driver.takeUsed(2)).to.deep.equal([{ id: head, length: 4 }]);
    expect(driver.memory.readU32(addresses[0]!), 'VIRTIO_VSOCK_EVENT_TRANSPORT_RESET').to.equal(0);
    expect(vsock.transportReset(), 'the only buffer is used').to.equal(false);
    // A buffer too small for an event is given back empty, with a warning.
    const small = driver.addChain(2, [{ length: 2, write: true }]);
    expect(vsock.transportReset()).to.equal(false);
    expect(driver.takeUsed(2)).to.deep.equal([{ id: small.head, length: 0 }]);
    expect(warnings.join('\n')).to.match(/event buffer .* fewer than an event's 4/);
  });

  it('refuses a guest CID below 3', () => {
    expect(() => new VirtioVsock(2, new FakeHost())).to.throw(RangeError);
  });

  it('guest REQUEST: connects to the host port, answers RESPONSE from host CID 2 once it is connected', () => {
    guest.postRx(4);
    guest.send({ op: Op.REQUEST });
    expect(host.connects.map((c) => c.port)).to.deep.equal([HOST_PORT]);
    expect(guest.receive()).to.deep.equal([]);
    host.connects[0]!.stream.events!.connected();
    const [response] = guest.receive();
    expect(response!.header).to.include({
      op: Op.RESPONSE,
      srcPort: HOST_PORT,
      dstPort: GUEST_PORT,
      srcCid: BigInt(HOST_CID),
      dstCid: BigInt(GUEST_CID),
      bufAlloc: HOST_BUF_ALLOC,
    });
  });

  it('guest REQUEST to a host port nobody serves: RST', () => {
    guest.postRx(4);
    guest.send({ op: Op.REQUEST });
    host.connects[0]!.stream.events!.closed();
    expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
    expect(vsock.connectionCount).to.equal(0);
  });

  it('RW both ways, with fwd_cnt counting what the host program took', () => {
    guest.postRx(8);
    const stream = guestConnects();
    guest.send({ op: Op.RW }, bytes(100, 7));
    expect(stream.written).to.deep.equal([...bytes(100, 7)]);
    stream.events!.data(bytes(300, 9));
    const [packet] = guest.receive();
    expect(packet!.header).to.include({ op: Op.RW, len: 300, fwdCnt: 100 });
    expect(packet!.payload).to.deep.equal([...bytes(300, 9)]);
  });

  it('never sends the guest more than its advertised buf_alloc, and resumes on CREDIT_UPDATE', () => {
    guest.bufAlloc = 1000;
    guest.postRx(16);
    const stream = guestConnects();
    stream.events!.data(bytes(2500, 1));
    expect(guest.receive().reduce((n, p) => n + p.header.len, 0)).to.equal(1000);
    guest.fwdCnt = 1000;
    guest.send({ op: Op.CREDIT_UPDATE });
    expect(guest.receive().reduce((n, p) => n + p.header.len, 0)).to.equal(1000);
    guest.fwdCnt = 4_000_000_000; // hostile: "ahead" of what was sent
    guest.send({ op: Op.CREDIT_UPDATE });
    expect(guest.receive()).to.deep.equal([]);
  });

  it('splits host data to fit the guest rx buffers', () => {
    guest.postRx(4, HEADER_SIZE + 100);
    const stream = guestConnects();
    stream.events!.data(bytes(250, 3));
    expect(guest.receive().map((p) => p.header.len)).to.deep.equal([100, 100, 50]);
  });

  it('answers CREDIT_REQUEST with CREDIT_UPDATE carrying fwd_cnt', () => {
    guest.postRx(4);
    const stream = guestConnects();
    guest.send({ op: Op.RW }, bytes(10, 1));
    guest.send({ op: Op.CREDIT_REQUEST });
    const [update] = guest.receive();
    expect(update!.header).to.include({ op: Op.CREDIT_UPDATE, fwdCnt: 10, bufAlloc: HOST_BUF_ALLOC });
    expect(stream.written).to.have.length(10);
  });

  it('sends CREDIT_UPDATE unasked once half the host buffer is flushed', () => {
    guest.postRx(8);
    const stream = guestConnects();
    stream.autoFlush = false;
    for (let sent = 0; sent < HOST_BUF_ALLOC / 2; sent += MAX_PAYLOAD) guest.send({ op: Op.RW }, bytes(MAX_PAYLOAD, 2));
    expect(guest.receive()).to.deep.equal([]);
    for (const flush of stream.unflushed.splice(0)) flush();
    const [update] = guest.receive();
    expect(update!.header).to.include({ op: Op.CREDIT_UPDATE, fwdCnt: HOST_BUF_ALLOC / 2 });
  });

  it('resets a connection whose guest sends beyond the host credit', () => {
    guest.postRx(8);
    const stream = guestConnects();
    stream.autoFlush = false;
    for (let sent = 0; sent < HOST_BUF_ALLOC; sent += MAX_PAYLOAD) guest.send({ op: Op.RW }, bytes(MAX_PAYLOAD, 2));
    expect(stream.destroyed).to.equal(false);
    guest.send({ op: Op.RW }, bytes(1, 2));
    expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
    expect(stream.destroyed).to.equal(true);
    expect(warnings.join('\n')).to.match(/beyond the .* credit/);
  });

  it('pauses a host program that outruns the guest and resumes it as the guest drains', () => {
    guest.bufAlloc = 0;
    const stream = guestConnects0();
    stream.events!.data(bytes(300 * 1024, 1));
    expect(stream.paused).to.equal(true);
    guest.bufAlloc = GUEST_BUF_ALLOC * 8;
    guest.postRx(64, HEADER_SIZE + MAX_PAYLOAD);
    guest.send({ op: Op.CREDIT_UPDATE });
    expect(guest.receive().reduce((n, p) => n + p.header.len, 0)).to.equal(300 * 1024);
    expect(stream.paused).to.equal(false);
  });

  /** guestConnects without rx buffers posted before (the RESPONSE waits for them). */
  function guestConnects0(): FakeStream {
    guest.send({ op: Op.REQUEST });
    const { stream } = host.connects.at(-1)!;
    stream.events!.connected();
    guest.postRx(1);
    expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RESPONSE]);
    return stream;
  }

  it('guest SHUTDOWN SEND half-closes the host stream; both flags end it with an RST', () => {
    guest.postRx(4);
    const stream = guestConnects();
    guest.send({ op: Op.SHUTDOWN, flags: SHUTDOWN_SEND });
    expect(stream.writeEnded).to.equal(true);
    expect(stream.destroyed).to.equal(false);
    guest.send({ op: Op.SHUTDOWN, flags: SHUTDOWN_SEND | SHUTDOWN_RCV });
    expect(stream.destroyed).to.equal(true);
    expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
    expect(vsock.connectionCount).to.equal(0);
  });

  it('host half-close: the pending data first, then SHUTDOWN SEND, and the guest may still send; host close: RST', () => {
    guest.postRx(8);
    const stream = guestConnects();
    stream.events!.data(bytes(5, 1));
    stream.events!.ended();
    const packets = guest.receive();
    expect(packets.map((p) => [p.header.op, p.header.flags])).to.deep.equal([
      [Op.RW, 0],
      [Op.SHUTDOWN, SHUTDOWN_SEND],
    ]);
    guest.send({ op: Op.RW }, bytes(2, 8));
    expect(stream.written).to.deep.equal([8, 8]);
    stream.events!.closed();
    expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
  });

  it('guest RST closes the host stream without an answer', () => {
    guest.postRx(4);
    const stream = guestConnects();
    guest.send({ op: Op.RST });
    expect(stream.destroyed).to.equal(true);
    expect(guest.receive()).to.deep.equal([]);
    expect(vsock.connectionCount).to.equal(0);
  });

  it('host-initiated: REQUEST to the guest port, OK to the host program once the guest answers RESPONSE', () => {
    guest.postRx(4);
    const stream = host.hostConnects(52);
    stream.events!.data(bytes(3, 4)); // sent before the guest accepted: held
    const [request] = guest.receive();
    expect(request!.header).to.include({ op: Op.REQUEST, dstPort: 52, srcCid: BigInt(HOST_CID) });
    expect(request!.header.srcPort).to.be.at.least(0x4000_0000);
    expect(stream.accepted).to.equal(undefined);
    guest.send({ op: Op.RESPONSE, srcPort: 52, dstPort: request!.header.srcPort });
    expect(stream.accepted).to.equal(request!.header.srcPort);
    expect(guest.receive().map((p) => p.payload)).to.deep.equal([[4, 4, 4]]);
  });

  it('host-initiated, guest refuses with RST: the host program is disconnected', () => {
    guest.postRx(4);
    const stream = host.hostConnects(52);
    const [request] = guest.receive();
    guest.send({ op: Op.RST, srcPort: 52, dstPort: request!.header.srcPort });
    expect(stream.destroyed).to.equal(true);
    expect(stream.accepted).to.equal(undefined);
  });

  it('host-initiated, guest never answers: the host program is disconnected and the guest gets an RST', async () => {
    const quick = new VirtioVsock(GUEST_CID, host, 5);
    const memory = smallMemory(1 << 20);
    const quickDriver = new MockDriver(new MmioTransport(quick, memory, { interrupt: () => {} }), memory);
    quickDriver.init({ queueCount: 3 });
    const quickGuest = new VsockGuest(quickDriver);
    quickGuest.postRx(4);
    const stream = host.hostConnects(52);
    while (!stream.destroyed) await new Promise((r) => setTimeout(r, 5));
    expect(quickGuest.receive().map((p) => p.header.op)).to.deep.equal([Op.REQUEST, Op.RST]);
    expect(stream.accepted).to.equal(undefined);
    expect(quick.connectionCount).to.equal(0);
  });

  describe('hostile packets: counted warning and RST, the device goes on', () => {
    const cases: [string, Parameters<VsockGuest['send']>[0], RegExp][] = [
      ['wrong source CID', { srcCid: 7n, op: Op.REQUEST }, /source CID/],
      ['destination not the host', { dstCid: 1n, op: Op.REQUEST }, /destination CID/],
      ['SEQPACKET type', { type: 2, op: Op.REQUEST }, /socket type/],
      ['unknown op', { op: 99 }, /unknown operation/],
      ['op 0 (INVALID)', { op: 0 }, /unknown operation/],
      ['len past the buffer', { op: Op.RW, len: 5000 }, /bytes after the header/],
      ['len above the maximum', { op: Op.RW, len: 0xffff_ffff }, /maximum/],
      ['payload on a REQUEST', { op: Op.REQUEST, len: 4 }, /only RW/],
    ];
    for (const [name, fields, why] of cases) {
      it(name, () => {
        guest.postRx(4);
        guest.send(fields, fields.len === 4 ? bytes(4, 0) : undefined);
        expect(warnings.join('\n')).to.match(why);
        expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
        expect(host.connects).to.deep.equal([]);
        guestConnects(); // still works
      });
    }

    it('a header cut short: a warning, no connection', () => {
      guest.postRx(4);
      driver.addChain(1, [{ length: 20, data: bytes(20, 0xff) }]);
      driver.notify(1);
      expect(driver.takeUsed(1)).to.have.length(1);
      expect(warnings.join('\n')).to.match(/less than a 44-byte header/);
      guestConnects();
    });

    it('RW, CREDIT_UPDATE or SHUTDOWN on no connection: RST; an RST on none: nothing', () => {
      guest.postRx(8);
      guest.send({ op: Op.RW }, bytes(3, 1));
      guest.send({ op: Op.SHUTDOWN, flags: 3 });
      guest.send({ op: Op.RST });
      expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST, Op.RST]);
    });

    it('data before the host side connected resets the connection', () => {
      guest.postRx(4);
      guest.send({ op: Op.REQUEST });
      guest.send({ op: Op.RW }, bytes(3, 1));
      expect(host.connects[0]!.stream.destroyed).to.equal(true);
      expect(guest.receive().map((p) => p.header.op)).to.deep.equal([Op.RST]);
    });

    it('a rx buffer too small for a header is returned empty and the packet waits for the next', () => {
      guest.postRx(1, 10);
      guest.postRx(1);
      guest.send({ op: Op.RW }, bytes(3, 1));
      const used = driver.takeUsed(0);
      expect(used.map((u) => u.length)).to.deep.equal([0, HEADER_SIZE]);
    });

    it(`at most ${MAX_CONNECTIONS} connections`, () => {
      for (let port = 0; port < MAX_CONNECTIONS; port++) guest.send({ op: Op.REQUEST, srcPort: port });
      guest.postRx(4);
      guest.send({ op: Op.REQUEST, srcPort: MAX_CONNECTIONS });
      expect(host.connects).to.have.length(MAX_CONNECTIONS);
      expect(guest.receive().map((p) => [p.header.op, p.header.dstPort])).to.deep.equal([[Op.RST, MAX_CONNECTIONS]]);
    });
  });

  it('a device reset drops every connection', () => {
    guest.postRx(4);
    const stream = guestConnects();
    driver.writeReg(Reg.STATUS, 0);
    expect(stream.destroyed).to.equal(true);
    expect(vsock.connectionCount).to.equal(0);
  });
});
