// A client for a microVM's API socket: one HTTP request per call, JSON in and
// out. Used by mvm ps/stop/inspect/top; anything `curl --unix-socket` can do.
import { request } from 'node:http';

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
}

/** Short: a live VMM answers from its event loop at once; a dead socket fails at connect. */
export const DEFAULT_API_TIMEOUT_MS = 5_000;

export class ApiUnreachable extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(`the VM's API socket ${socketPath} does not answer (${reason})`);
    this.name = 'ApiUnreachable';
  }
}

export function apiCall<T>(
  socketPath: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs: number = DEFAULT_API_TIMEOUT_MS,
): Promise<ApiResponse<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        // A fresh connection per call: a pooled keep-alive socket to a VMM that has
        // since exited (or been replaced under the same name) would fail the next
        // call with EPIPE/ECONNRESET, and idle pooled sockets linger in long-lived
        // callers such as mvm top.
        agent: false,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: (text === '' ? null : JSON.parse(text)) as T });
          } catch {
            reject(new ApiUnreachable(socketPath, `answered ${res.statusCode} with a body that is not JSON`));
          }
        });
        res.on('error', (err) => reject(new ApiUnreachable(socketPath, err.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new ApiUnreachable(socketPath, err.code ?? err.message)));
    req.end(payload);
  });
}
