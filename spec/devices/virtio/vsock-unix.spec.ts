import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { VirtioVsock } from '../../../src/devices/virtio/vsock/device.js';
import { UnixSocketBackend } from '../../../src/devices/virtio/vsock/unix-backend.js';
import { Op } from '../../../src/devices/virtio/vsock/packet.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { Status } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';
import { GUEST_CID, VsockGuest, type Packet } from './vsock-guest.js';

/** Lets socket events run, then collects what reached the guest until `done` says enough. */
async function receiveUntil(guest: VsockGuest, done: (all: Packet[]) => boolean): Promise<Packet[]> {
  const all: Packet[] = [];
  while (!done(all)) {
    await new Promise((r) => setImmediate(r));
    all.push(...guest.receive());
  }
  return all;
}

function readLine(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}

describe('virtio-vsock over unix sockets', () => {
  let dir: string;
  let path: string;
  let backend: UnixSocketBackend;
  let guest: VsockGuest;
  let restore: () => void;

  beforeEach(async () => {
    restore = captureWarnings([]);
    dir = mkdtempSync(join(tmpdir(), 'mvm-vsock-'));
    path = join(dir, 'vm.sock');
    backend = new UnixSocketBackend(path);
    const vsock = new VirtioVsock(GUEST_CID, backend);
    const memory = smallMemory(4 << 20);
    const driver = new MockDriver(new MmioTransport(vsock, memory, { interrupt: () => {} }), memory);
    expect(driver.init({ queueCount: 3 }) & Status.DRIVER_OK).to.equal(Status.DRIVER_OK);
    guest = new VsockGuest(driver);
    guest.postRx(32);
    await backend.listening();
  });
  afterEach(() => {
    backend.close();
    rmSync(dir, { recursive: true, force: true });
    restore();
  });

  it('host connects with "CONNECT <port>", gets "OK <hostport>" once the guest accepts, and bytes flow both ways', async () => {
    const client = net.createConnection(path);
    await once(client, 'connect');
    client.write('CONNECT 52\nhello');
    const [request] = await receiveUntil(guest, (all) => all.length >= 1);
    expect(request!.header).to.include({ op: Op.REQUEST, dstPort: 52 });
    const hostPort = request!.header.srcPort;
    const ok = readLine(client);
    guest.send({ op: Op.RESPONSE, srcPort: 52, dstPort: hostPort });
    expect(await ok).to.equal(`OK ${hostPort}\n`);
    const data = await receiveUntil(guest, (all) => all.reduce((n, p) => n + p.header.len, 0) >= 5);
    expect(Buffer.from(data.flatMap((p) => p.payload)).toString()).to.equal('hello');
    const echoed = once(client, 'data');
    guest.send({ op: Op.RW, srcPort: 52, dstPort: hostPort }, Buffer.from('world'));
    expect(String((await echoed)[0])).to.equal('world');
    client.end();
    const end = await receiveUntil(guest, (all) => all.some((p) => p.header.op === Op.SHUTDOWN));
    expect(end.at(-1)!.header.op).to.equal(Op.SHUTDOWN);
    client.destroy();
  });

  it('a malformed request line closes the host connection', async () => {
    const client = net.createConnection(path);
    await once(client, 'connect');
    client.write('HELLO 52\n');
    await once(client, 'close');
    expect(guest.receive()).to.deep.equal([]);
  });

  it('guest connects to host port P through PATH_P', async () => {
    const server = net.createServer((socket) => socket.pipe(socket));
    server.listen(`${path}_7000`);
    await once(server, 'listening');
    try {
      guest.send({ op: Op.REQUEST, srcPort: 1234, dstPort: 7000 });
      const [response] = await receiveUntil(guest, (all) => all.length >= 1);
      expect(response!.header).to.include({ op: Op.RESPONSE, srcPort: 7000, dstPort: 1234 });
      guest.send({ op: Op.RW, srcPort: 1234, dstPort: 7000 }, Buffer.from('ping'));
      const echo = await receiveUntil(guest, (all) => all.reduce((n, p) => n + p.header.len, 0) >= 4);
      expect(Buffer.from(echo.flatMap((p) => p.payload)).toString()).to.equal('ping');
      guest.send({ op: Op.RST, srcPort: 1234, dstPort: 7000 });
    } finally {
      server.close();
    }
  });

  it('guest connects to a host port nobody listens on: RST', async () => {
    guest.send({ op: Op.REQUEST, srcPort: 1234, dstPort: 7001 });
    const [rst] = await receiveUntil(guest, (all) => all.length >= 1);
    expect(rst!.header).to.include({ op: Op.RST, srcPort: 7001, dstPort: 1234 });
  });
});
