// The daemon inside the helper VM (started by the helper's init, see
// images/build-helper.sh). It accepts requests from mvm on the host, each on
// its own TCP connection, and runs them against the helper's hardware-style
// /dev/kvm: mvm commands in a warm spare node process, other commands
// directly, and 'connect' requests join a host stream to a detached VM's
// socket. When nothing has been asked of it for the idle period and no
// detached VM runs in it, it exits with status 0, and init powers the VM
// off, so no helper is left burning CPU.
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { release } from 'node:os';
import { GUEST_ADDRESS, parseDaemonParams } from './qemu-command.js';
import {
  encodeJsonFrame,
  FrameDecoder,
  FrameType,
  parseJsonPayload,
  parseRequest,
  ProtocolError,
  PROTOCOL_VERSION,
  type PingReply,
} from './protocol.js';
import { connectClientToSocket } from './connect-request.js';
import { Session } from './session.js';
import { SparePool } from './spare-pool.js';
import { countLiveVmms } from './vmm-activity.js';

/** A client that has not sent its REQUEST frame by then is dropped. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How often the idle timer looks; idle periods are minutes, so seconds of slack are fine. */
const IDLE_CHECK_MS = 5_000;

function log(message: string): void {
  process.stderr.write(`mvm-daemon: ${message}\n`);
}

/**
 * Constant-time comparison, written out rather than taken from node:crypto:
 * loading that module costs ~0.5 s of the helper's start under emulation.
 */
function tokensEqual(given: string, expected: Buffer): boolean {
  const candidate = Buffer.from(given, 'utf8');
  if (candidate.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= candidate[i] ^ expected[i];
  return difference === 0;
}

const params = parseDaemonParams(readFileSync('/proc/cmdline', 'utf8'));
const token = Buffer.from(readFileSync(params.tokenPath, 'utf8').trim(), 'utf8');
if (token.length === 0) throw new Error(`the token file ${params.tokenPath} is empty`);

// What every command starts from; the request adds its own variables.
const baseEnv: Record<string, string> = {};
for (const name of ['PATH', 'HOME', 'MVM_IN_HELPER']) {
  const value = process.env[name];
  if (value !== undefined) baseEnv[name] = value;
}
baseEnv.MVM_IN_HELPER = '1';

const spares = new SparePool(baseEnv);
let activeRequests = 0;
let lastActivity = Date.now();

function pingReply(): PingReply {
  return {
    version: PROTOCOL_VERSION,
    kernel: release(),
    uptimeSeconds: Math.round(process.uptime()),
    activeRequests,
    spareReady: spares.hasReadySpare,
    idleSeconds: params.idleSeconds,
    liveVmms: countLiveVmms(),
  };
}

function handleConnection(socket: Socket): void {
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  let session: Session | null = null;
  const refuse = (message: string): void => {
    if (session) session.fail(message);
    else socket.end(encodeJsonFrame(FrameType.Error, { message }));
  };
  const timer = setTimeout(() => refuse('no request received'), REQUEST_TIMEOUT_MS);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clearTimeout(timer));
  const onData = (chunk: Buffer): void => {
    try {
      if (session) {
        for (const frame of decoder.push(chunk)) session.onFrame(frame);
        return;
      }
      // Only the first frame now: after a connect request the stream is raw bytes.
      const [frame] = decoder.push(chunk, 1);
      if (!frame) return;
      if (frame.type !== FrameType.Request) throw new ProtocolError('the first frame must be a request');
      clearTimeout(timer);
      const request = parseRequest(parseJsonPayload(frame));
      if (!tokensEqual(request.token, token)) throw new ProtocolError('wrong token');
      // A ping (mvm doctor, mvm helper status) is not use: it must not keep the helper up.
      if (request.kind === 'ping') {
        socket.end(encodeJsonFrame(FrameType.Pong, pingReply()));
        return;
      }
      const done = (): void => {
        activeRequests -= 1;
        lastActivity = Date.now();
      };
      lastActivity = Date.now();
      activeRequests += 1;
      if (request.kind === 'connect') {
        socket.off('data', onData);
        connectClientToSocket(socket, request.argv[0]!, decoder.takeRemainder(), done);
        return;
      }
      session = new Session(socket, request, baseEnv, done);
      session.start(spares).catch((err: unknown) => refuse(`cannot start the command: ${String(err)}`));
      // Frames that came in the same chunk as the request.
      for (const next of decoder.push(Buffer.alloc(0))) session.onFrame(next);
    } catch (err) {
      refuse(err instanceof ProtocolError ? err.message : `internal error: ${String(err)}`);
      socket.removeAllListeners('data');
    }
  };
  socket.on('data', onData);
}

const server = createServer(handleConnection);
server.listen(params.port, GUEST_ADDRESS, () => {
  log(`listening on ${GUEST_ADDRESS}:${params.port}`);
  // Only now: the spare's start-up would otherwise delay the moment the
  // helper answers, which is what a starting mvm command waits for.
  spares.fill();
});

if (params.idleSeconds > 0) {
  setInterval(() => {
    // Detached VMs running in here count as use: powering off would kill them.
    if (countLiveVmms() > 0) lastActivity = Date.now();
    if (activeRequests === 0 && Date.now() - lastActivity >= params.idleSeconds * 1000) {
      log(`idle for ${params.idleSeconds} s; powering the helper VM off`);
      spares.close();
      server.close();
      process.exit(0);
    }
  }, IDLE_CHECK_MS);
}
