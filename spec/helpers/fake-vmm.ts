// A stand-in for a detached VM's VMM process, for the verbs' unit specs: it
// writes vm.json/state.json/console.log into vms/<name>/ under a temporary
// runtime root, and (optionally) serves the API (src/api/schema.ts) on
// api.sock with node:http, in this process. The mvm CLI under test runs as a
// child process and sees it exactly as it would see a real VMM.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_PATHS, CONSOLE_UPGRADE_PROTOCOL, type VmInfo, type VmStats } from '../../src/api/schema.js';
import { VM_FILES } from '../../src/fleet/vm-dir.js';
import { writeJsonAtomic, type VmLifeState, type VmRecord, type VmStatus } from '../../src/fleet/vm-status.js';

/** A temporary runtime root (MVM_RUN_DIR) holding fake VMs. */
export class FakeRunDir {
  readonly root = mkdtempSync(join(tmpdir(), 'mvm-verbs-'));
  readonly env = { MVM_RUN_DIR: this.root };
  private readonly vms: FakeVmm[] = [];

  add(options: FakeVmOptions): FakeVmm {
    const vm = new FakeVmm(join(this.root, 'vms', options.name), options);
    this.vms.push(vm);
    return vm;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.vms.map((vm) => vm.close()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface FakeVmOptions {
  readonly name: string;
  readonly state?: VmLifeState;
  readonly where?: 'host' | 'helper';
  /** Default: this process (alive). */
  readonly pid?: number;
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly bootMs?: number | null;
  readonly exitStatus?: number | null;
  readonly exitReason?: string | null;
  readonly drives?: VmRecord['drives'];
  readonly console?: string;
  /** Serve the API on api.sock (default true). */
  readonly serveApi?: boolean;
  /** After POST /stop, how long until the fake writes its final state. */
  readonly stopDelayMs?: number;
}

/** What the fake answers GET /stats with: non-zero counters the specs can look for. */
export const FAKE_EXITS_TOTAL = 4242;

export class FakeVmm {
  readonly requests: string[] = [];
  readonly consoleInput: Buffer[] = [];
  /** The JSON bodies of POST /stop requests. */
  readonly stopBodies: unknown[] = [];
  private server: Server | null = null;
  private readonly consoleSockets = new Set<Socket>();
  private status: VmStatus;
  readonly record: VmRecord;

  constructor(
    readonly dir: string,
    readonly options: FakeVmOptions,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.record = {
      name: options.name,
      createdAt: new Date(Date.now() - 60_000).toISOString(),
      cpus: options.cpus ?? 1,
      memoryBytes: options.memoryBytes ?? 256 * 2 ** 20,
      kernel: '/fake/vmlinux',
      initrd: null,
      cmdline: 'console=hvc0',
      console: 'virtio',
      drives: options.drives ?? [],
      nets: [],
      vsock: null,
      rng: true,
      config: null,
    };
    writeJsonAtomic(join(dir, VM_FILES.record), this.record);
    this.status = {
      name: options.name,
      state: options.state ?? 'running',
      pid: options.pid ?? process.pid,
      where: options.where ?? 'host',
      apiListen: join(dir, VM_FILES.api),
      startedAt: new Date(Date.now() - 65_000).toISOString(),
      bootMs: options.bootMs === undefined ? 412 : options.bootMs,
      exitedAt: null,
      exitStatus: options.exitStatus ?? null,
      exitReason: options.exitReason ?? null,
    };
    writeJsonAtomic(join(dir, VM_FILES.status), this.status);
    appendFileSync(join(dir, VM_FILES.console), options.console ?? `${options.name} booted\n`);
  }

  get socketPath(): string {
    return join(this.dir, VM_FILES.api);
  }

  get currentStatus(): VmStatus {
    return this.status;
  }

  setState(state: VmLifeState, extra: Partial<VmStatus> = {}): void {
    this.status = { ...this.status, state, ...extra };
    writeJsonAtomic(join(this.dir, VM_FILES.status), this.status);
  }

  appendConsole(text: string): void {
    appendFileSync(join(this.dir, VM_FILES.console), text);
  }

  async listen(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => this.upgrade(req, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.consoleSockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The VM ends: final state written, console clients closed, API gone (like a real VMM exiting). */
  async finish(state: 'exited' | 'failed', exitStatus: number | null, exitReason: string | null): Promise<void> {
    this.setState(state, { exitStatus, exitReason, exitedAt: new Date().toISOString() });
    await this.close();
  }

  private info(): VmInfo {
    return {
      ...this.record,
      state: this.status.state,
      pid: this.status.pid,
      startedAt: this.status.startedAt,
      uptimeMs: 65_000,
      bootMs: this.status.bootMs,
    };
  }

  private stats(): VmStats {
    return {
      timestamp: Date.now(),
      uptimeMs: 65_000,
      bootMs: this.status.bootMs,
      cpu: { userUs: 1000, systemUs: 500 },
      memory: { rssBytes: 64 * 2 ** 20, guestTouchedBytes: 40 * 2 ** 20, vmmBytes: 24 * 2 ** 20 },
      exits: { total: FAKE_EXITS_TOTAL, byReason: { io: 4000, mmio: 242 } },
      disks: [],
      nets: [],
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === API_PATHS.vm) return send(200, this.info());
      if (req.method === 'GET' && req.url === API_PATHS.stats) return send(200, this.stats());
      if (req.method === 'POST' && req.url === API_PATHS.stop) {
        const text = Buffer.concat(chunks).toString('utf8');
        this.stopBodies.push(text === '' ? null : JSON.parse(text));
        this.setState('stopping');
        send(202, { state: 'stopping', timeoutMs: 10_000 });
        setTimeout(() => void this.finish('exited', 0, null), this.options.stopDelayMs ?? 300);
        return;
      }
      if (req.method === 'POST' && req.url === API_PATHS.kill) {
        send(202, { state: 'stopping' });
        setTimeout(() => void this.finish('failed', null, 'killed'), 50);
        return;
      }
      send(404, { error: `no ${req.method} ${req.url}` });
    });
  }

  private upgrade(req: IncomingMessage, socket: Socket): void {
    this.requests.push(`UPGRADE ${req.url}`);
    if (req.url !== API_PATHS.console || req.headers.upgrade !== CONSOLE_UPGRADE_PROTOCOL) {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n\r\n`);
    this.consoleSockets.add(socket);
    socket.write('guest$ ');
    socket.on('data', (chunk: Buffer) => {
      this.consoleInput.push(chunk);
      // Echoes like a shell would, so the spec sees its input come back.
      socket.write(chunk.toString('utf8').toUpperCase());
    });
    socket.on('close', () => this.consoleSockets.delete(socket));
    socket.on('error', () => undefined);
  }
}

/** The pid of a process that has exited (and been reaped): certainly gone. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

/** A long-lived process whose command line names `name`, as a VMM's does (`mvm __vmm NAME`). */
export function fakeVmmProcess(name: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '__vmm', name], { stdio: 'ignore' });
}
