// A stand-in for a detached VM's VMM process, for specs of the tools that
// only talk to vms/<name>/api.sock (mvm top): writes vm.json and state.json
// into a runtime root and serves the API (src/api/schema.ts) on a unix
// socket with counters that grow with wall time, so rates come out non-zero
// and predictable. Records every request, so a spec can check that a stop
// reached the VM it meant. GET /console upgrades to a console that greets
// with "console of NAME" and echoes what is typed as "typed: …".
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { API_PATHS, CONSOLE_UPGRADE_PROTOCOL, DEFAULT_STOP_TIMEOUT_MS, type VmInfo, type VmStats } from '../../src/api/schema.js';
import { VM_FILES } from '../../src/fleet/vm-dir.js';
import { writeJsonAtomic, type VmLifeState, type VmRecord, type VmStatus } from '../../src/fleet/vm-status.js';

export interface FakeVmOptions {
  readonly name: string;
  /** CPU seconds the fake VMM "uses" per wall second (0.25 → 25 %). */
  readonly cpuFraction?: number;
  readonly exitsPerSecond?: number;
  readonly diskReadBytesPerSecond?: number;
  readonly diskWriteBytesPerSecond?: number;
  readonly netRxBytesPerSecond?: number;
  readonly netTxBytesPerSecond?: number;
  readonly guestTouchedBytes?: number;
  readonly vmmBytes?: number;
  readonly bootMs?: number;
  /** The pid state.json names (default: this process, alive); a gone pid makes a dead VMM once the socket closes. */
  readonly pid?: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: string;
}

const MIB = 1024 * 1024;

export class FakeVmApi {
  readonly requests: RecordedRequest[] = [];
  /** Everything typed into attached consoles. */
  consoleInput = '';
  private readonly consoleSockets = new Set<Socket>();
  private state: VmLifeState = 'running';
  private readonly startedAt = Date.now();
  private readonly record: VmRecord;

  private constructor(
    readonly runDir: string,
    private readonly options: FakeVmOptions,
    private readonly server: Server,
  ) {
    this.record = {
      name: options.name,
      createdAt: new Date(this.startedAt).toISOString(),
      cpus: 1,
      memoryBytes: 256 * MIB,
      kernel: 'images/out/vmlinux',
      initrd: null,
      cmdline: 'console=hvc0',
      console: 'virtio',
      drives: [],
      nets: [],
      vsock: null,
      rng: true,
      config: null,
    };
  }

  get dir(): string {
    return join(this.runDir, 'vms', this.options.name);
  }

  get socketPath(): string {
    return join(this.dir, VM_FILES.api);
  }

  /** Creates vms/<name>/ under runDir with vm.json and state.json, and listens on its api.sock. */
  static async start(runDir: string, options: FakeVmOptions): Promise<FakeVmApi> {
    const server = createServer();
    const fake = new FakeVmApi(runDir, options, server);
    mkdirSync(fake.dir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(join(fake.dir, VM_FILES.record), fake.record);
    fake.writeStatus();
    server.on('request', (req, res) => fake.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => fake.attachConsole(req, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(fake.socketPath, () => resolve());
    });
    return fake;
  }

  stopRequests(): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path === API_PATHS.stop).length;
  }

  /** The VMM "dies": its socket stops answering, state.json still says running. */
  async die(): Promise<void> {
    await this.closeServer();
  }

  /** The guest powered off: final state written, socket gone. */
  async exit(status: number): Promise<void> {
    this.state = 'exited';
    this.writeStatus(status);
    await this.closeServer();
  }

  /** Removes the VM's directory (like `mvm rm`). */
  async remove(): Promise<void> {
    await this.closeServer();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async closeServer(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    for (const socket of this.consoleSockets) socket.destroy(); // upgraded: no longer the server's
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private writeStatus(exitStatus: number | null = null): void {
    const final = this.state === 'exited' || this.state === 'failed';
    const status: VmStatus = {
      name: this.options.name,
      state: this.state,
      pid: this.options.pid ?? process.pid,
      where: 'host',
      apiListen: this.socketPath,
      startedAt: new Date(this.startedAt).toISOString(),
      bootMs: this.options.bootMs ?? 1234,
      exitedAt: final ? new Date().toISOString() : null,
      exitStatus,
      exitReason: null,
    };
    writeJsonAtomic(join(this.dir, VM_FILES.status), status);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      const route = `${req.method} ${req.url}`;
      if (route === `GET ${API_PATHS.vm}`) return this.reply(res, 200, this.info());
      if (route === `GET ${API_PATHS.stats}`) return this.reply(res, 200, this.stats());
      if (route === `POST ${API_PATHS.stop}`) {
        this.state = 'stopping';
        this.writeStatus();
        return this.reply(res, 202, { state: 'stopping', timeoutMs: DEFAULT_STOP_TIMEOUT_MS });
      }
      return this.reply(res, 404, { error: `no such endpoint: ${route}` });
    });
  }

  private attachConsole(req: IncomingMessage, socket: Socket): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', body: '' });
    if (req.url !== API_PATHS.console || req.headers.upgrade !== CONSOLE_UPGRADE_PROTOCOL) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n\r\n`);
    this.consoleSockets.add(socket);
    socket.on('close', () => this.consoleSockets.delete(socket));
    socket.write(`console of ${this.options.name}\r\n`);
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.consoleInput += text;
      socket.write(`typed: ${JSON.stringify(text)}\r\n`);
    });
    socket.on('error', () => socket.destroy());
  }

  private reply(res: ServerResponse, status: number, value: unknown): void {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private info(): VmInfo {
    return {
      ...this.record,
      state: this.state,
      pid: this.options.pid ?? process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: Date.now() - this.startedAt,
      bootMs: this.options.bootMs ?? 1234,
    };
  }

  private stats(): VmStats {
    const now = Date.now();
    const seconds = (now - this.startedAt) / 1000;
    const o = this.options;
    const cpuUs = Math.round(seconds * (o.cpuFraction ?? 0.25) * 1e6);
    const exits = Math.round(seconds * (o.exitsPerSecond ?? 1000));
    const touched = o.guestTouchedBytes ?? 40 * MIB;
    const vmm = o.vmmBytes ?? 30 * MIB;
    return {
      timestamp: now,
      uptimeMs: now - this.startedAt,
      bootMs: o.bootMs ?? 1234,
      cpu: { userUs: Math.round(cpuUs * 0.75), systemUs: cpuUs - Math.round(cpuUs * 0.75) },
      memory: { rssBytes: touched + vmm, guestTouchedBytes: touched, vmmBytes: vmm },
      exits: { total: exits, byReason: { io: Math.round(exits * 0.6), mmio: exits - Math.round(exits * 0.6) } },
      disks: [
        {
          name: 'vda',
          readOps: Math.round(seconds * 10),
          writeOps: Math.round(seconds * 5),
          flushOps: 0,
          readBytes: Math.round(seconds * (o.diskReadBytesPerSecond ?? 64 * 1024)),
          writeBytes: Math.round(seconds * (o.diskWriteBytesPerSecond ?? 16 * 1024)),
        },
      ],
      nets: [
        {
          name: 'eth0',
          rxPackets: Math.round(seconds * 20),
          txPackets: Math.round(seconds * 10),
          rxBytes: Math.round(seconds * (o.netRxBytesPerSecond ?? 8 * 1024)),
          txBytes: Math.round(seconds * (o.netTxBytesPerSecond ?? 2 * 1024)),
        },
      ],
    };
  }
}
