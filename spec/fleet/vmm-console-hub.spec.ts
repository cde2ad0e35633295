// A detached VM's console fan-out (src/fleet/console-hub.ts): guest output to
// console.log and every attached client, client input to the guest, a cap on
// the log, slow clients dropped.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { ConsoleHub } from '../../src/fleet/console-hub.js';

/** A client connection: what the hub writes is kept; `type` is what the client sends. `stuck` never finishes a write. */
class FakeClient extends Duplex {
  readonly written: Buffer[] = [];
  constructor(private readonly stuck = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.written.push(chunk);
    if (!this.stuck) done();
  }
  override _read(): void {}
  type(text: string): void {
    this.push(Buffer.from(text));
  }
  get text(): string {
    return Buffer.concat(this.written).toString();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('detached console hub', () => {
  let dir: string;
  let log: string;
  const typed: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mvm-hub-'));
    log = join(dir, 'console.log');
    typed.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends guest output to console.log and sends it to every attached client; client input reaches the guest', async () => {
    const hub = new ConsoleHub(log, (b) => typed.push(Buffer.from(b).toString()));
    const a = new FakeClient();
    const b = new FakeClient();
    hub.attach(a, Buffer.from('early '));
    hub.attach(b);
    hub.output(Buffer.from('login: '));
    a.type('root\r');
    await turn();
    expect(a.text).to.equal('login: ');
    expect(b.text).to.equal('login: ');
    expect(typed).to.deep.equal(['early ', 'root\r']);
    hub.flush();
    expect(readFileSync(log, 'utf8')).to.equal('login: ');
    b.destroy();
    await turn();
    expect(hub.clientCount).to.equal(1);
    hub.close();
  });

  it('stops console.log at its limit with one line saying so', () => {
    const hub = new ConsoleHub(log, () => undefined, 10);
    hub.output(Buffer.from('0123456789abcdef'));
    hub.flush();
    hub.output(Buffer.from('more'));
    hub.close();
    const text = readFileSync(log, 'utf8');
    expect(text.startsWith('0123456789\n[mvm: console.log reached 10 bytes; later output is not kept]')).to.equal(true);
    expect(text).to.not.contain('more');
  });

  it('drops a client that stopped reading once its backlog passes the limit; the others go on', () => {
    const hub = new ConsoleHub(log, () => undefined);
    const stuck = new FakeClient(true);
    const reader = new FakeClient();
    hub.attach(stuck);
    hub.attach(reader);
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 6; i++) hub.output(chunk);
    expect(stuck.destroyed).to.equal(true);
    expect(reader.destroyed).to.equal(false);
    expect(Buffer.concat(reader.written).length).to.equal(6 * chunk.length);
    hub.close();
  });
});
