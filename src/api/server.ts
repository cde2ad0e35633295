// The HTTP side of a microVM's API (paths and JSON shapes: schema.ts; user
// documentation: docs/api.md). It runs in the VMM process on a unix socket
// that only the owner may open, and knows nothing about KVM: everything goes
// through a VmController, so the specs drive it with a fake VM.
//
// Clients are the owner's tools, but a request is still parsed defensively:
// bodies are capped, JSON is checked field by field, and nothing a client
// sends can throw inside the VMM.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  API_PATHS,
  CONSOLE_UPGRADE_PROTOCOL,
  DEFAULT_STOP_TIMEOUT_MS,
  MAX_STOP_TIMEOUT_MS,
  type ApiError,
  type SnapshotRequest,
  type SnapshotTakenInfo,
  type StopAccepted,
  type VmInfo,
  type VmStats,
} from './schema.js';

export type SnapshotOutcome = { readonly ok: true; readonly taken: SnapshotTakenInfo } | { readonly ok: false; readonly error: string };

export type ControlOutcome = { readonly ok: true; readonly accepted: StopAccepted } | { readonly ok: false; readonly error: string };

export interface VmController {
  info(): VmInfo;
  stats(): VmStats;
  stop(timeoutMs: number): ControlOutcome;
  kill(): ControlOutcome;
  /** Takes over an upgraded connection: raw console bytes both ways until either side closes. */
  attachConsole(socket: Duplex, head: Buffer): void;
  /** Pauses the VM, writes its snapshot, resumes it (or ends it); absent where the VM cannot be snapshotted. */
  snapshot?(request: SnapshotRequest): Promise<SnapshotOutcome>;
}

/** Request bodies are tiny JSON objects; anything larger is refused unread. */
export const MAX_BODY_BYTES = 4096;
/** Owner-only: the API can stop the VM and type into its console. */
export const API_SOCKET_MODE = 0o600;

const HTTP_OK = 200;
const HTTP_ACCEPTED = 202;
const HTTP_BAD_REQUEST = 400;
const HTTP_NOT_FOUND = 404;
const HTTP_METHOD_NOT_ALLOWED = 405;
const HTTP_CONFLICT = 409;
const HTTP_PAYLOAD_TOO_LARGE = 413;
const HTTP_INTERNAL_ERROR = 500;

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, error: string): void {
  send(res, status, { error } satisfies ApiError);
}

/** The request body as JSON (undefined when empty), at most MAX_BODY_BYTES. */
function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new RequestError(HTTP_PAYLOAD_TOO_LARGE, `request bodies are at most ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RequestError(HTTP_PAYLOAD_TOO_LARGE, `request bodies are at most ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => reject(new RequestError(HTTP_BAD_REQUEST, err.message)));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new RequestError(HTTP_BAD_REQUEST, 'the request body is not JSON'));
      }
    });
  });
}

/** POST /stop's body: nothing, {} or {"timeoutMs": N}. */
export function parseStopBody(body: unknown): number {
  if (body === undefined || body === null) return DEFAULT_STOP_TIMEOUT_MS;
  if (typeof body !== 'object' || Array.isArray(body))
    throw new RequestError(HTTP_BAD_REQUEST, 'the body must be a JSON object such as {"timeoutMs": 10000}');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'timeoutMs') throw new RequestError(HTTP_BAD_REQUEST, `unknown field "${key}" (only timeoutMs)`);
  }
  if (fields.timeoutMs === undefined) return DEFAULT_STOP_TIMEOUT_MS;
  const timeout = fields.timeoutMs;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0 || timeout > MAX_STOP_TIMEOUT_MS) {
    throw new RequestError(HTTP_BAD_REQUEST, `timeoutMs must be a whole number of milliseconds from 0 to ${MAX_STOP_TIMEOUT_MS}`);
  }
  return timeout;
}

/** PUT /snapshot's body: {"dir": "/absolute/path", "stop": false}. */
export function parseSnapshotBody(body: unknown): SnapshotRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError(HTTP_BAD_REQUEST, 'the body must be a JSON object such as {"dir": "/path/to/snapshot"}');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'dir' && key !== 'stop') throw new RequestError(HTTP_BAD_REQUEST, `unknown field "${key}" (only dir and stop)`);
  }
  const dir = fields.dir;
  if (typeof dir !== 'string' || !dir.startsWith('/') || dir.includes('\0') || dir.length > 1024)
    throw new RequestError(HTTP_BAD_REQUEST, 'dir must be an absolute path');
  if (fields.stop !== undefined && typeof fields.stop !== 'boolean') throw new RequestError(HTTP_BAD_REQUEST, 'stop must be true or false');
  return { dir, stop: fields.stop === true };
}

function answerControl(res: ServerResponse, outcome: ControlOutcome): void {
  // The body was checked already: a refusal now is about the VM's state (it has stopped).
  if (outcome.ok) send(res, HTTP_ACCEPTED, outcome.accepted);
  else sendError(res, HTTP_CONFLICT, outcome.error);
}

async function route(controller: VmController, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  const allow = (expected: 'GET' | 'POST' | 'PUT'): void => {
    if (method !== expected) {
      res.setHeader('allow', expected);
      throw new RequestError(HTTP_METHOD_NOT_ALLOWED, `${path} takes ${expected}, not ${method}`);
    }
  };
  switch (path) {
    case API_PATHS.vm:
      allow('GET');
      return send(res, HTTP_OK, controller.info());
    case API_PATHS.stats:
      allow('GET');
      return send(res, HTTP_OK, controller.stats());
    case API_PATHS.stop: {
      allow('POST');
      const timeoutMs = parseStopBody(await readJsonBody(req));
      return answerControl(res, controller.stop(timeoutMs));
    }
    case API_PATHS.kill:
      allow('POST');
      await readJsonBody(req);
      return answerControl(res, controller.kill());
    case API_PATHS.snapshot: {
      allow('PUT');
      const request = parseSnapshotBody(await readJsonBody(req));
      if (!controller.snapshot) throw new RequestError(HTTP_NOT_FOUND, 'this VM cannot be snapshotted');
      const outcome = await controller.snapshot(request);
      return outcome.ok ? send(res, HTTP_OK, outcome.taken) : sendError(res, HTTP_CONFLICT, outcome.error);
    }
    case API_PATHS.console:
      throw new RequestError(HTTP_BAD_REQUEST, `${path} needs "Connection: Upgrade" and "Upgrade: ${CONSOLE_UPGRADE_PROTOCOL}"`);
    default:
      throw new RequestError(HTTP_NOT_FOUND, `no such endpoint: ${path} (see docs/api.md)`);
  }
}

/** Refuses an upgrade request with a plain HTTP answer and closes the connection. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, error: string): void {
  const body = `${JSON.stringify({ error } satisfies ApiError)}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function createApiServer(controller: VmController): Server {
  const server = createServer((req, res) => {
    route(controller, req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof RequestError) sendError(res, err.status, err.message);
      else sendError(res, HTTP_INTERNAL_ERROR, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0];
    const protocol = String(req.headers.upgrade ?? '').toLowerCase();
    if (path !== API_PATHS.console) return refuseUpgrade(socket, HTTP_NOT_FOUND, 'Not Found', `${path} cannot be upgraded`);
    if (protocol !== CONSOLE_UPGRADE_PROTOCOL)
      return refuseUpgrade(socket, HTTP_BAD_REQUEST, 'Bad Request', `upgrade to "${CONSOLE_UPGRADE_PROTOCOL}", not "${protocol}"`);
    if (req.method !== 'GET') return refuseUpgrade(socket, HTTP_METHOD_NOT_ALLOWED, 'Method Not Allowed', `${path} takes GET`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n\r\n`);
    controller.attachConsole(socket, head);
  });
  // A client that stops reading must not pin the VMM's memory forever.
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}

/**
 * Listens on the unix socket `path` (a stale socket file from a dead VMM is
 * replaced) and makes it owner-only. The directory holding it is owner-only
 * too, so no one else can reach it in the moment before the chmod.
 */
export function listenApi(server: Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      chmodSync(path, API_SOCKET_MODE);
      resolve();
    });
  });
}
