// 100,000 random vsock packets from a hostile guest, mixed with random host
// events (host programs connecting, sending, ending, vanishing) and random
// rx buffers. The descriptor-chain walker has its own fuzz spec; this one
// aims at the packet and connection logic: headers mostly plausible (right
// CIDs, a few ports so connections collide) with random ops, lengths, flags
// and credit fields. Demands: no exception out of the transport, no internal
// error turned into NEEDS_RESET, host-side buffering within its bound, and
// both paths exercised (packets delivered, resets sent). Seeded: FUZZ_SEED=<n>.
import { expect } from 'chai';
import { VirtioVsock } from '../../../src/devices/virtio/vsock/device.js';
import { HOST_PENDING_HIGH, type Connection } from '../../../src/devices/virtio/vsock/connection.js';
import { HEADER_SIZE, HOST_CID, MAX_PAYLOAD, encodeHeader } from '../../../src/devices/virtio/vsock/packet.js';
import { MmioTransport } from '../../../src/virtio/mmio-transport.js';
import { Reg, Status } from '../../../src/virtio/constants.js';
import { MockDriver } from '../../helpers/mock-driver.js';
import { captureWarnings, smallMemory } from '../../virtio/fixtures.js';
import { FakeHost, type FakeStream } from './vsock-fake-host.js';
import { GUEST_CID } from './vsock-guest.js';
import { mulberry32 as prng } from '../../helpers/prng.js';

const PACKETS = 100_000;
const QUEUE_SIZE = 64;
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);
const PORTS = [1, 2, 3, 0x4000_0000, 0x4000_0001, 0xffff_ffff];
/** A host data chunk is at most this (a socket read). */
const MAX_HOST_CHUNK = 70_000;

describe(`virtio-vsock fuzz: ${PACKETS} random packets (seed ${SEED})`, function () {
  this.timeout(300_000);

  it('no exception escapes, no internal error, host buffering bounded', () => {
    const random = prng(SEED);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
    const warnings: string[] = [];
    const restore = captureWarnings(warnings);
    const host = new FakeHost();
    const vsock = new VirtioVsock(GUEST_CID, host);
    const memory = smallMemory(8 << 20);
    const transport = new MmioTransport(vsock, memory, { interrupt: () => {} });
    let driver = new MockDriver(transport, memory);
    driver.init({ queueSize: QUEUE_SIZE, queueCount: 3 });
    const streams: FakeStream[] = [];
    let escaped = 0;
    let needsReset = 0;
    let delivered = 0;
    let maxPending = 0;
    let rxOutstanding = 0;
    /** A guest rebooting its driver: reset, fresh zeroed rings and buffers. */
    const restart = () => {
      driver.writeReg(Reg.STATUS, 0);
      memory.slice(0, memory.totalSize).fill(0);
      driver = new MockDriver(transport, memory);
      driver.init({ queueSize: QUEUE_SIZE, queueCount: 3 });
      rxOutstanding = 0;
    };
    const payload = new Uint8Array(MAX_PAYLOAD + 16);
    try {
      for (let i = 0; i < PACKETS; i++) {
        try {
          // Mostly known ops with a length that fits them, so connections live long enough to carry data.
          const op = random() < 0.9 ? 1 + int(7) : int(9);
          const len = random() < 0.7 ? (op === 5 ? int(200) : 0) : pick([0, int(200), MAX_PAYLOAD, MAX_PAYLOAD + 1, 0xffff_ffff, int(2 ** 32)]);
          const header = encodeHeader({
            srcCid: random() < 0.95 ? BigInt(GUEST_CID) : BigInt(int(2 ** 32)),
            dstCid: random() < 0.95 ? BigInt(HOST_CID) : pick([0n, 1n, 3n, 2n ** 64n - 1n]),
            srcPort: pick(PORTS),
            dstPort: pick(PORTS),
            len,
            type: random() < 0.95 ? 1 : int(4),
            op,
            flags: random() < 0.8 ? int(4) : int(2 ** 32),
            bufAlloc: random() < 0.8 ? int(1 << 20) : int(2 ** 32),
            fwdCnt: random() < 0.8 ? 0 : int(2 ** 32),
          });
          // Payload room: usually as announced, sometimes less; the header sometimes split or cut short.
          const room = Math.min(random() < 0.8 ? len : int(300), MAX_PAYLOAD + 16);
          const cut = random() < 0.05 ? int(HEADER_SIZE) : HEADER_SIZE;
          const buffers =
            random() < 0.2
              ? [
                  { length: 10, data: header.subarray(0, 10) },
                  { length: cut - 10 > 0 ? cut - 10 : 1, data: header.subarray(10, Math.max(cut, 11)) },
                ]
              : [{ length: Math.max(cut, 1), data: header.subarray(0, Math.max(cut, 1)) }];
          if (room > 0) buffers.push({ length: room, data: payload.subarray(0, room) });
          if (random() < 0.05) buffers.push({ length: 8, write: true } as never);
          driver.addChain(1, buffers);
          driver.notify(1);
          driver.takeUsed(1);
          // Host side.
          const r = random();
          if (r < 0.05) streams.push(host.hostConnects(pick(PORTS)));
          const live = [...streams, ...host.connects.map((c) => c.stream)].filter((s) => !s.destroyed && s.events);
          if (live.length > 0 && random() < 0.3) {
            const s = pick(live);
            const e = random();
            if (e < 0.5) s.events!.data(new Uint8Array(1 + int(random() < 0.9 ? 2000 : MAX_HOST_CHUNK)));
            else if (e < 0.7) s.events!.connected();
            else if (e < 0.85) s.events!.ended();
            else s.events!.closed();
          }
          // Rx buffers about as fast as the device answers (control packets go first, so fewer would starve data).
          if (random() < 0.5) {
            // A driver never has more buffers outstanding than the queue holds.
            for (let b = int(8); b > 0 && rxOutstanding < QUEUE_SIZE; b--, rxOutstanding++)
              driver.addChain(0, [{ length: pick([8, HEADER_SIZE, HEADER_SIZE + 100, HEADER_SIZE + 4096]), write: true }]);
            driver.notify(0);
          }
          const used = driver.takeUsed(0).length;
          delivered += used;
          rxOutstanding -= used;
          for (const conn of (vsock as unknown as { connections: Map<string, Connection> }).connections.values())
            maxPending = Math.max(maxPending, conn.pendingLength);
          if (i % 5000 === 4999) {
            // Reset now and then, as a rebooting guest would; buffers come from a fresh heap.
            restart();
          }
        } catch (err) {
          if (err instanceof Error && /heap exhausted/.test(err.message)) {
            restart();
          } else {
            escaped++;
          }
        }
        if (driver.readReg(Reg.STATUS) & Status.DEVICE_NEEDS_RESET) needsReset++;
      }
    } finally {
      restore();
    }
    if (process.env['FUZZ_VERBOSE'])
      console.log(warnings.slice(0, 12), { escaped, needsReset, delivered, maxPending, stats: vsock.stats, guestErrors: transport.errors.count });
    expect(escaped, 'exceptions out of the transport').to.equal(0);
    expect(
      warnings.filter((w) => /internal error/.test(w)),
      'internal errors',
    ).to.deep.equal([]);
    expect(needsReset, 'NEEDS_RESET').to.equal(0);
    expect(maxPending, 'host bytes buffered for one connection').to.be.at.most(HOST_PENDING_HIGH + MAX_HOST_CHUNK);
    expect(delivered, 'packets delivered to the guest').to.be.greaterThan(PACKETS / 10);
    expect(vsock.stats.resetsSent, 'resets sent').to.be.greaterThan(0);
    expect(vsock.stats.connectionsOpened, 'connections opened').to.be.greaterThan(0);
    expect(vsock.stats.bytesToGuest, 'bytes relayed to the guest').to.be.greaterThan(0);
    expect(vsock.stats.bytesFromGuest, 'bytes relayed from the guest').to.be.greaterThan(0);
  });
});
