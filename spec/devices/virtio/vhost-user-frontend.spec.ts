// The vhost-user front-end (src/devices/virtio/vhost-user) against a fake
// back-end on the other end of a socketpair: the handshake negotiates
// protocol features instead of assuming them, descriptors really travel by
// SCM_RIGHTS, and every way a hostile or dead back-end can answer (garbage,
// short replies, the wrong request type, descriptors attached, a hang-up,
// silence) is a VhostUserError that leaves the connection unusable, never a
// hang or a crash.
import { expect } from 'chai';
import { writeSync } from 'node:fs';
import { EventNotifier, watchReadable } from '../../../src/sys/event-notifier.js';
import { UnixSocket } from '../../../src/sys/unix-socket.js';
import { VhostUserError, VhostUserFrontend } from '../../../src/devices/virtio/vhost-user/frontend.js';
import {
  F_PROTOCOL_FEATURES,
  HEADER_BYTES,
  PROTOCOL_F_REPLY_ACK,
  Request,
  encodeNoPayload,
  encodeVringFd,
  encodeVringState,
} from '../../../src/devices/virtio/vhost-user/protocol.js';

const TIMEOUT_MS = 300;
const REPLY = 0x4 | 0x1;

function reply(request: number, payload: Uint8Array, flags = REPLY, size = payload.length): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, size, true);
  out.set(payload, HEADER_BYTES);
  return out;
}

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

/** Reads one whole request (header and payload) the front-end sent, with its descriptors. */
function readRequest(peer: UnixSocket): { type: number; flags: number; payload: Uint8Array; fds: number[] } {
  const header = new Uint8Array(HEADER_BYTES);
  const got = peer.receive(header, 0, HEADER_BYTES);
  expect(got.length).to.equal(HEADER_BYTES);
  const v = new DataView(header.buffer);
  const size = v.getUint32(8, true);
  const payload = new Uint8Array(size);
  if (size > 0) expect(peer.receive(payload, 0, size).length).to.equal(size);
  return { type: v.getUint32(0, true), flags: v.getUint32(4, true), payload, fds: got.fds };
}

describe('vhost-user front-end against a fake back-end', () => {
  let front: UnixSocket;
  let back: UnixSocket;
  let frontend: VhostUserFrontend;

  beforeEach(() => {
    [front, back] = UnixSocket.pair(TIMEOUT_MS);
    frontend = new VhostUserFrontend(front, 'fake back-end', TIMEOUT_MS);
  });
  afterEach(() => {
    frontend.close();
    back.close();
  });

  it('negotiates only the protocol features both sides know, then asks for acknowledgements', () => {
    const offered = PROTOCOL_F_REPLY_ACK | (1n << 0n) | (1n << 9n); // REPLY_ACK, MQ, CONFIG
    back.send(reply(Request.GET_FEATURES, u64(F_PROTOCOL_FEATURES | (1n << 32n))));
    back.send(reply(Request.GET_PROTOCOL_FEATURES, u64(offered)));
    back.send(reply(Request.SET_OWNER, u64(0n))); // the acknowledgement of SET_OWNER
    const hs = frontend.handshake();
    expect(hs.protocolFeatures).to.equal(PROTOCOL_F_REPLY_ACK);
    expect(frontend.replyAck).to.equal(true);
    expect(readRequest(back).type).to.equal(Request.GET_FEATURES);
    expect(readRequest(back).type).to.equal(Request.GET_PROTOCOL_FEATURES);
    const set = readRequest(back);
    expect(set.type).to.equal(Request.SET_PROTOCOL_FEATURES);
    expect(new DataView(set.payload.buffer).getBigUint64(0, true)).to.equal(PROTOCOL_F_REPLY_ACK);
    const owner = readRequest(back);
    expect(owner.type).to.equal(Request.SET_OWNER);
    expect(owner.flags & 0x8).to.equal(0x8); // NEED_REPLY
  });

  it('skips protocol features and acknowledgements when the back-end does not offer them', () => {
    back.send(reply(Request.GET_FEATURES, u64(1n << 32n)));
    const hs = frontend.handshake();
    expect(hs.protocolFeatures).to.equal(0n);
    expect(frontend.replyAck).to.equal(false);
    expect(readRequest(back).type).to.equal(Request.GET_FEATURES);
    const owner = readRequest(back);
    expect(owner.type).to.equal(Request.SET_OWNER);
    expect(owner.flags & 0x8).to.equal(0);
  });

  it('passes an eventfd to the back-end with SCM_RIGHTS', () => {
    const kick = EventNotifier.create();
    try {
      frontend.request(encodeVringFd(Request.SET_VRING_KICK, 1, kick.fd));
      const sent = readRequest(back);
      expect(sent.type).to.equal(Request.SET_VRING_KICK);
      expect(sent.fds).to.have.length(1);
      expect(sent.fds[0]).to.not.equal(kick.fd);
      // The back-end's copy is the same eventfd: a write there is seen here.
      writeSync(sent.fds[0]!, new Uint8Array(new BigUint64Array([1n]).buffer));
      expect(kick.drain()).to.equal(true);
    } finally {
      kick.close();
    }
  });

  it('reads a reply that arrives in pieces', () => {
    const whole = reply(Request.GET_VRING_BASE, Uint8Array.of(2, 0, 0, 0, 7, 0, 0, 0));
    back.send(whole.subarray(0, 5));
    back.send(whole.subarray(5));
    expect(frontend.getVringBase(encodeVringState(Request.GET_VRING_BASE, 2, 0), 2)).to.equal(7);
  });

  const hostile: [string, () => void, RegExp][] = [
    ['a reply to another request', () => back.send(reply(Request.GET_PROTOCOL_FEATURES, u64(1n))), /request 15 where request 1/],
    ['a reply without the reply flag', () => back.send(reply(Request.GET_FEATURES, u64(1n), 0x1)), /without the reply flag/],
    ['a reply of another protocol version', () => back.send(reply(Request.GET_FEATURES, u64(1n), 0x4 | 0x2)), /protocol version 2/],
    ['a reply announcing the wrong size', () => back.send(reply(Request.GET_FEATURES, new Uint8Array(4))), /4-byte payload/],
    ['a reply cut short', () => back.send(reply(Request.GET_FEATURES, u64(1n)).subarray(0, 10)), /no answer within 300 ms/],
    // The request itself then fails (EPIPE), or the reply never comes: either way one line.
    ['a hang-up', () => back.close(), /cannot be sent request 1: EPIPE|closed the connection before answering/],
    ['silence', () => {}, /no answer within 300 ms/],
  ];
  for (const [what, act, message] of hostile) {
    it(`turns ${what} into a VhostUserError and refuses further requests`, () => {
      act();
      const started = Date.now();
      expect(() => frontend.handshake()).to.throw(VhostUserError, message);
      expect(Date.now() - started).to.be.below(5 * TIMEOUT_MS);
      expect(frontend.failure).to.match(/^fake back-end /);
      expect(() => frontend.request(encodeNoPayload(Request.SET_OWNER))).to.throw(VhostUserError);
    });
  }

  it('waits for a reply the whole timeout even when libuv watches the socket (which makes it non-blocking)', () => {
    const watch = watchReadable(front.fd, () => {});
    try {
      const started = Date.now();
      expect(() => frontend.handshake()).to.throw(VhostUserError, /no answer within 300 ms/);
      expect(Date.now() - started).to.be.at.least(TIMEOUT_MS - 20);
    } finally {
      watch.close();
    }
  });

  it('closes descriptors a back-end attaches to a reply, and refuses the reply', () => {
    const stray = EventNotifier.create();
    try {
      back.send(reply(Request.GET_FEATURES, u64(1n)), [stray.fd]);
      expect(() => frontend.handshake()).to.throw(VhostUserError, /attached 1 descriptor/);
    } finally {
      stray.close();
    }
  });

  it('refuses an acknowledgement that reports failure', () => {
    back.send(reply(Request.GET_FEATURES, u64(F_PROTOCOL_FEATURES)));
    back.send(reply(Request.GET_PROTOCOL_FEATURES, u64(PROTOCOL_F_REPLY_ACK)));
    back.send(reply(Request.SET_OWNER, u64(1n)));
    expect(() => frontend.handshake()).to.throw(VhostUserError, /refused request 3 \(status 1\)/);
  });

  it('notices, without waiting, a back-end that hangs up or speaks unasked between requests', () => {
    expect(frontend.checkIdle()).to.equal(undefined);
    back.send(Uint8Array.of(1));
    expect(frontend.checkIdle()).to.match(/sent a message nobody asked for/);
    const [a, b] = UnixSocket.pair(TIMEOUT_MS);
    const other = new VhostUserFrontend(a, 'other', TIMEOUT_MS);
    b.close();
    expect(other.checkIdle()).to.match(/closed the connection/);
    other.close();
  });
});
