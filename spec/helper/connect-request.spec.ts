// The helper daemon's 'connect' request (src/helper/connect-request.ts), the
// host's openHelperStream and the host socket relay (src/helper/socket-relay.ts),
// over real sockets in a temporary directory: a stand-in daemon parses the
// REQUEST frame as the real one does and hands the stream to
// connectClientToSocket, confined to a temporary "/run/mvm".
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClientToSocket, refuseConnectPath } from '../../src/helper/connect-request.js';
import { openHelperStream } from '../../src/helper/connection.js';
import { FrameDecoder, parseJsonPayload, parseRequest } from '../../src/helper/protocol.js';
import { relayHostSocket, RELAY_SOCKET_MODE } from '../../src/helper/socket-relay.js';

const TOKEN = 'secret-token';

/** A unix server that answers each line with "echo:<line>" and reports a half-close with "eof". */
function echoServer(path: string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (d) => socket.write(`echo:${d.toString()}`));
    socket.on('end', () => socket.end('eof'));
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

/** Does what the daemon does with a connection's first frame. */
function fakeDaemon(root: string): Promise<{ server: Server; port: number; done: () => number }> {
  let finished = 0;
  const server = createServer((socket) => {
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      const [frame] = decoder.push(chunk, 1);
      if (!frame) return;
      socket.off('data', onData);
      const request = parseRequest(parseJsonPayload(frame));
      expect(request.token).to.equal(TOKEN);
      expect(request.kind).to.equal('connect');
      connectClientToSocket(socket, request.argv[0]!, decoder.takeRemainder(), () => finished++, root);
    };
    socket.on('data', onData);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, done: () => finished });
    }),
  );
}

function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
  });
}

describe('helper connect request (sockets inside the helper reached from the host)', () => {
  describe('refuseConnectPath', () => {
    it('accepts a normalized absolute path below the root', () => {
      expect(refuseConnectPath('/run/mvm/web-42/api.sock')).to.equal(null);
    });

    for (const [what, path] of [
      ['a relative path', 'run/mvm/web-42/api.sock'],
      ['a path outside the root', '/run/systemd/private'],
      ["the root's look-alike sibling", '/run/mvm-evil/api.sock'],
      ['the root itself', '/run/mvm'],
      ['a .. escape', '/run/mvm/../systemd/private'],
      ['a non-normalized path', '/run/mvm//web/api.sock'],
      ['a NUL byte', '/run/mvm/web\0/api.sock'],
      ['a path too long for sun_path', `/run/mvm/${'x'.repeat(120)}`],
    ] as const) {
      it(`refuses ${what}`, () => {
        expect(refuseConnectPath(path)).to.be.a('string');
      });
    }
  });

  describe('through a stand-in daemon', () => {
    let dir: string;
    let root: string;
    let target: string;
    let echo: Server;
    let daemon: Awaited<ReturnType<typeof fakeDaemon>>;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mvm-connect-'));
      root = join(dir, 'run-mvm');
      mkdirSync(join(root, 'web-42'), { recursive: true });
      target = join(root, 'web-42', 'api.sock');
      echo = await echoServer(target);
      daemon = await fakeDaemon(root);
    });
    afterEach(() => {
      echo.close();
      daemon.server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('joins the stream to the socket: bytes both ways, a half-close still gets the answer', async () => {
      const stream = await openHelperStream(daemon.port, TOKEN, target);
      const answer = readAll(stream);
      stream.resume();
      stream.end('hello');
      expect(await answer).to.equal('echo:helloeof');
    });

    it('refuses a path outside the root with the reason, connecting nothing', async () => {
      const outside = join(dir, 'outside.sock');
      const other = await echoServer(outside);
      try {
        await openHelperStream(daemon.port, TOKEN, outside).then(
          () => expect.fail('connected'),
          (err: Error) => {
            expect(err.message).to.match(/refused: only sockets below .* may be connected to/);
          },
        );
      } finally {
        other.close();
      }
    });

    it('refuses a symbolic link below the root that leads outside it', async () => {
      const outside = join(dir, 'outside.sock');
      const other = await echoServer(outside);
      symlinkSync(outside, join(root, 'web-42', 'link.sock'));
      try {
        const err = await openHelperStream(daemon.port, TOKEN, join(root, 'web-42', 'link.sock')).then(
          () => null,
          (e: Error) => e,
        );
        expect(err?.message).to.match(/leads outside/);
      } finally {
        other.close();
      }
    });

    it('says so when nothing listens at the path', async () => {
      echo.close();
      rmSync(target, { force: true });
      const err = await openHelperStream(daemon.port, TOKEN, target).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/refused/);
    });

    it('relays a host unix socket (mode 0600) to the socket inside, connection by connection', async () => {
      const hostPath = join(dir, 'host-api.sock');
      const relay = await relayHostSocket(hostPath, target, { connect: (path) => openHelperStream(daemon.port, TOKEN, path) });
      try {
        expect(statSync(hostPath).mode & 0o777).to.equal(RELAY_SOCKET_MODE);
        for (const word of ['one', 'two']) {
          const client = connect(hostPath);
          const answer = readAll(client);
          client.end(word);
          expect(await answer).to.equal(`echo:${word}eof`);
        }
      } finally {
        relay.close();
      }
      expect(() => statSync(hostPath)).to.throw(/ENOENT/);
    });

    it('closes a relayed connection the helper refuses, and reports why', async () => {
      const hostPath = join(dir, 'host-api.sock');
      const errors: string[] = [];
      const relay = await relayHostSocket(hostPath, '/etc/passwd', {
        connect: (path) => openHelperStream(daemon.port, TOKEN, path),
        onError: (m) => errors.push(m),
      });
      try {
        const client = connect(hostPath);
        const answer = readAll(client);
        client.write('x');
        expect(await answer).to.equal('');
        expect(errors.join('\n')).to.match(/only sockets below/);
      } finally {
        relay.close();
      }
    });
  });
});
