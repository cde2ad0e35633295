// The API server (src/api/server.ts) on a real unix socket in a temporary
// directory, driven by the project's own client and by raw HTTP, against a
// fake VM: no KVM needed.
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { apiCall } from '../../src/api/client.js';
import { API_PATHS, DEFAULT_STOP_TIMEOUT_MS, type VmInfo, type VmStats } from '../../src/api/schema.js';
import {
  API_SOCKET_MODE,
  createApiServer,
  listenApi,
  MAX_BODY_BYTES,
  type ControlOutcome,
  type SnapshotOutcome,
  type VmController,
} from '../../src/api/server.js';
import type { SnapshotRequest } from '../../src/api/schema.js';

const INFO: VmInfo = {
  name: 'web',
  createdAt: '2026-11-23T23:00:00.000Z',
  cpus: 2,
  memoryBytes: 256 * 1024 * 1024,
  kernel: '/k/vmlinux',
  initrd: null,
  cmdline: 'console=hvc0',
  console: 'virtio',
  drives: [],
  nets: [],
  vsock: null,
  rng: true,
  config: null,
  state: 'running',
  pid: 77,
  startedAt: '2026-11-23T23:00:01.000Z',
  uptimeMs: 1234,
  bootMs: 456,
};

const STATS: VmStats = {
  timestamp: 1,
  uptimeMs: 1234,
  bootMs: 456,
  cpu: { userUs: 10, systemUs: 20 },
  memory: { rssBytes: 100, guestTouchedBytes: 60, vmmBytes: 40 },
  exits: { total: 3, byReason: { io: 2, mmio: 1, interrupted: 0, other: 0 } },
  disks: [{ name: 'vda', readOps: 1, writeOps: 2, flushOps: 3, readBytes: 4, writeBytes: 5 }],
  nets: [{ name: 'eth0', rxPackets: 6, txPackets: 7, rxBytes: 8, txBytes: 9 }],
};

class FakeVm implements VmController {
  stops: number[] = [];
  kills = 0;
  refuse: string | null = null;
  console: Duplex[] = [];
  typed: Buffer[] = [];

  info(): VmInfo {
    return INFO;
  }
  stats(): VmStats {
    return STATS;
  }
  stop(timeoutMs: number): ControlOutcome {
    if (this.refuse) return { ok: false, error: this.refuse };
    this.stops.push(timeoutMs);
    return { ok: true, accepted: { state: 'stopping', timeoutMs } };
  }
  kill(): ControlOutcome {
    if (this.refuse) return { ok: false, error: this.refuse };
    this.kills++;
    return { ok: true, accepted: { state: 'stopping', timeoutMs: 0 } };
  }
  snapshots: SnapshotRequest[] = [];
  async snapshot(request: SnapshotRequest): Promise<SnapshotOutcome> {
    if (this.refuse) return { ok: false, error: this.refuse };
    this.snapshots.push(request);
    const taken = { dir: request.dir, memoryDataBytes: 4096, memoryAllocatedBytes: 4096, pausedToDurableMs: 5, pausedToResumedMs: 6 };
    return { ok: true, taken: { ...taken, stopped: request.stop === true } };
  }
  attachConsole(socket: Duplex, head: Buffer): void {
    this.console.push(socket);
    if (head.length) this.typed.push(head);
    socket.on('data', (chunk: Buffer) => this.typed.push(chunk));
  }
}

/** Sends raw bytes and collects everything until the server closes or `until` matches. */
function rawExchange(path: string, request: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('utf8');
      if (until?.test(got)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.write(request);
  });
}

describe('VM API server', () => {
  let dir: string;
  let socketPath: string;
  let server: Server;
  let vm: FakeVm;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-api-'));
    socketPath = join(dir, 'api.sock');
    vm = new FakeVm();
    server = createApiServer(vm);
    await listenApi(server, socketPath);
  });
  afterEach(() => {
    for (const s of vm.console) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on a socket only its owner may open (mode 0600)', () => {
    const st = statSync(socketPath);
    expect(st.isSocket()).to.equal(true);
    expect(st.mode & 0o777).to.equal(API_SOCKET_MODE);
  });

  it("GET /vm and GET /stats answer the VM's JSON", async () => {
    expect(await apiCall(socketPath, 'GET', API_PATHS.vm)).to.deep.equal({ status: 200, body: INFO });
    expect(await apiCall(socketPath, 'GET', API_PATHS.stats)).to.deep.equal({ status: 200, body: STATS });
  });

  it('POST /stop without a body uses the default timeout; with {"timeoutMs"} that one; answers 202', async () => {
    expect(await apiCall(socketPath, 'POST', API_PATHS.stop)).to.deep.equal({
      status: 202,
      body: { state: 'stopping', timeoutMs: DEFAULT_STOP_TIMEOUT_MS },
    });
    expect((await apiCall(socketPath, 'POST', API_PATHS.stop, { timeoutMs: 2500 })).status).to.equal(202);
    expect((await apiCall(socketPath, 'POST', API_PATHS.stop, {})).status).to.equal(202);
    expect(vm.stops).to.deep.equal([DEFAULT_STOP_TIMEOUT_MS, 2500, DEFAULT_STOP_TIMEOUT_MS]);
  });

  for (const [what, body] of [
    ['a negative timeout', { timeoutMs: -1 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
    ['a string timeout', { timeoutMs: '10' }],
    ['a timeout over an hour', { timeoutMs: 3_600_001 }],
    ['an unknown field', { timeout: 5 }],
    ['an array', [1]],
  ] as const) {
    it(`POST /stop refuses ${what} with 400 and stops nothing`, async () => {
      const r = await apiCall<{ error: string }>(socketPath, 'POST', API_PATHS.stop, body);
      expect(r.status).to.equal(400);
      expect(r.body.error).to.be.a('string').and.not.equal('');
      expect(vm.stops).to.deep.equal([]);
    });
  }

  it('PUT /snapshot hands {dir, stop} to the VM and answers 200 with what was written; a refusal is a 409', async () => {
    const answer = await apiCall(socketPath, 'PUT', API_PATHS.snapshot, { dir: '/tmp/s1', stop: true });
    expect(answer.status).to.equal(200);
    expect(answer.body).to.include({ dir: '/tmp/s1', stopped: true, memoryDataBytes: 4096 });
    expect((await apiCall(socketPath, 'PUT', API_PATHS.snapshot, { dir: '/tmp/s2' })).status).to.equal(200);
    expect(vm.snapshots).to.deep.equal([
      { dir: '/tmp/s1', stop: true },
      { dir: '/tmp/s2', stop: false },
    ]);
    vm.refuse = 'the VM is starting: only a running VM that has booted can be snapshotted';
    expect(await apiCall(socketPath, 'PUT', API_PATHS.snapshot, { dir: '/tmp/s3' })).to.deep.equal({ status: 409, body: { error: vm.refuse } });
  });

  it('PUT /snapshot refuses a relative or missing dir, unknown fields and a non-boolean stop (400), and other methods (405)', async () => {
    for (const [body, message] of [
      [undefined, /must be a JSON object/],
      [{ dir: 'relative/path' }, /dir must be an absolute path/],
      [{ dir: '/a\u0000b' }, /dir must be an absolute path/],
      [{ dir: '/tmp/s', stop: 'yes' }, /stop must be true or false/],
      [{ dir: '/tmp/s', force: true }, /unknown field "force"/],
    ] as const) {
      const answer = await apiCall<{ error: string }>(socketPath, 'PUT', API_PATHS.snapshot, body);
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(answer.body.error).to.match(message);
    }
    expect((await apiCall(socketPath, 'POST', API_PATHS.snapshot, { dir: '/tmp/s' })).status).to.equal(405);
    expect(vm.snapshots).to.deep.equal([]);
  });

  it('refuses a body that is not JSON (400) or too large (413)', async () => {
    const notJson = await rawExchange(socketPath, 'POST /stop HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello');
    expect(notJson)
      .to.match(/^HTTP\/1.1 400 /)
      .and.to.contain('not JSON');
    const big = `{"timeoutMs":1${' '.repeat(MAX_BODY_BYTES)}}`;
    const tooLarge = await rawExchange(
      socketPath,
      `POST /stop HTTP/1.1\r\nhost: x\r\ncontent-length: ${big.length}\r\nconnection: close\r\n\r\n${big}`,
    );
    expect(tooLarge).to.match(/^HTTP\/1.1 413 /);
    expect(vm.stops).to.deep.equal([]);
  });

  it('POST /kill answers 202; a VM that has already stopped answers 409 with the reason', async () => {
    expect((await apiCall(socketPath, 'POST', API_PATHS.kill)).status).to.equal(202);
    expect(vm.kills).to.equal(1);
    vm.refuse = 'the VM has already exited';
    expect(await apiCall(socketPath, 'POST', API_PATHS.kill)).to.deep.equal({ status: 409, body: { error: 'the VM has already exited' } });
    expect(await apiCall(socketPath, 'POST', API_PATHS.stop)).to.deep.equal({ status: 409, body: { error: 'the VM has already exited' } });
  });

  it('answers 404 for unknown paths and 405 (with Allow) for wrong methods', async () => {
    expect((await apiCall(socketPath, 'GET', '/nope')).status).to.equal(404);
    expect((await apiCall(socketPath, 'POST', API_PATHS.vm)).status).to.equal(405);
    expect((await apiCall(socketPath, 'GET', API_PATHS.stop)).status).to.equal(405);
    expect(vm.stops).to.deep.equal([]);
    const raw = await rawExchange(socketPath, 'DELETE /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(raw)
      .to.match(/^HTTP\/1.1 405 /)
      .and.to.match(/allow: GET/i);
  });

  it('GET /console without the upgrade is a 400 that says how', async () => {
    const r = await apiCall<{ error: string }>(socketPath, 'GET', API_PATHS.console);
    expect(r.status).to.equal(400);
    expect(r.body.error).to.contain('Upgrade: mvm-console');
  });

  it('upgrades GET /console to raw console bytes both ways (101)', async () => {
    const client: Socket = connect(socketPath);
    let received = '';
    const upgraded = new Promise<void>((resolve) =>
      client.on('data', (d) => {
        received += d.toString('latin1');
        if (received.includes('\r\n\r\n')) resolve();
      }),
    );
    client.write('GET /console HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: mvm-console\r\n\r\n');
    await upgraded;
    expect(received)
      .to.match(/^HTTP\/1.1 101 /)
      .and.to.match(/upgrade: mvm-console/i);
    // Client → guest.
    client.write('ls\r');
    while (Buffer.concat(vm.typed).length < 3) await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(vm.typed).toString()).to.equal('ls\r');
    // Guest → client.
    const echoed = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
    vm.console[0]!.write('bin  etc\r\n');
    expect(await echoed).to.equal('bin  etc\r\n');
    client.destroy();
  });

  it('refuses an upgrade to another protocol or on another path', async () => {
    const wrongProtocol = await rawExchange(socketPath, 'GET /console HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    expect(wrongProtocol).to.match(/^HTTP\/1.1 400 /);
    const wrongPath = await rawExchange(socketPath, 'GET /stats HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: mvm-console\r\n\r\n');
    expect(wrongPath).to.match(/^HTTP\/1.1 404 /);
    expect(vm.console).to.have.length(0);
  });

  it('replaces a stale socket file left by a dead VMM', async () => {
    server.close();
    const again = createApiServer(vm);
    await listenApi(again, socketPath);
    expect((await apiCall(socketPath, 'GET', API_PATHS.vm)).status).to.equal(200);
    again.close();
  });
});
