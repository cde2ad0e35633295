// A snapshot directory written and read back, and a corpus of damaged ones:
// truncated, corrupted, foreign, from a future format, with a short memory
// file, or with a checksummed state whose fields do not hold up. Each is
// refused with one line naming what is wrong.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FORMAT_VERSION, HEADER_BYTES, encodeContainer } from '../../src/snapshot/container.js';
import { SnapshotError } from '../../src/snapshot/snapshot-error.js';
import { STATE_FILE, readSnapshot, writeSnapshot } from '../../src/snapshot/snapshot-dir.js';
import { serializeSnapshotState, type SnapshotState } from '../../src/snapshot/snapshot-state.js';

const MiB = 1 << 20;
/** The state file's JSON, which the corpus edits at any depth, as a damaged file would be. */
// biome-ignore lint/suspicious/noExplicitAny: the corpus reaches into untyped JSON on purpose
type Payload = Record<string, any>;

function filled(size: number, value: number): Uint8Array {
  return new Uint8Array(size).fill(value);
}

/** A machine of 2 vCPUs and one virtio device, its KVM state made of recognisable bytes. */
function sampleState(): Omit<SnapshotState, 'memory'> {
  const vcpu = (id: number) => ({
    id,
    mpState: id === 0 ? 0 : 1,
    regs: filled(144, 1 + id),
    sregs: filled(312, 2),
    xsave: filled(4096, 3),
    xcrs: filled(392, 4),
    debugRegs: filled(128, 5),
    lapic: filled(1024, 6),
    msrs: [
      { index: 0x10, data: 2n ** 63n + 5n },
      { index: 0x4b564d01, data: 0x5001n },
    ],
    events: filled(64, 7),
    tscKhz: 2_000_000,
  });
  return {
    createdAt: '2026-12-07T20:00:00.000Z',
    machine: { memoryBytes: 2 * MiB, cpus: 2, cmdline: 'console=ttyS0', virtio: [{ name: 'virtio-rng', deviceType: 4 }] },
    vm: { picMaster: filled(512, 8), picSlave: filled(512, 9), ioapic: filled(512, 10), pit: filled(112, 11), clockNs: 123_456_789_000n },
    vcpus: [vcpu(0), vcpu(1)],
    virtio: [
      {
        deviceType: 4,
        status: 0,
        deviceFeaturesSel: 0,
        driverFeaturesSel: 0,
        driverFeatures: '0',
        queueSel: 0,
        interruptStatus: 0,
        configGeneration: 0,
        active: false,
        queues: [
          {
            size: 256,
            ready: false,
            descTable: 0,
            availRing: 0,
            usedRing: 0,
            eventIdx: false,
            indirect: false,
            nextAvail: 0,
            nextUsed: 0,
            signalledUsed: 0,
          },
        ],
      },
    ],
    legacy: {
      serial: {
        ier: 1,
        lcr: 3,
        mcr: 8,
        scratch: 0,
        divisor: 1,
        fifoEnabled: true,
        thrEmptyPending: false,
        overrun: false,
        input: [65, 66],
        lineLevel: true,
      },
      i8042: { config: 0x45, output: -1, expectingConfig: false, lastWasCommand: true },
    },
    launch: { console: 'serial', kernelPath: '/k', initrdPath: null, nets: [], vsock: null, rng: true },
    cpuid: [
      { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
      { function: 7, index: 0, flags: 1, eax: 0, ebx: 0xffff_ffff, ecx: 0, edx: 0 },
    ],
  };
}

/** 2 MiB of guest RAM in two regions, a few pages written, the rest zeros. */
function sampleMemory(): { guestAddress: number; bytes: Uint8Array }[] {
  const low = new Uint8Array(MiB);
  low.set(filled(100, 0xaa), 0x1000);
  low.set(filled(4096, 0xbb), 0x3000);
  const high = new Uint8Array(MiB);
  high[MiB - 1] = 0xcc;
  return [
    { guestAddress: 0, bytes: low },
    { guestAddress: 0x10_0000_000, bytes: high },
  ];
}

function refusal(dir: string): string {
  try {
    readSnapshot(dir);
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(SnapshotError);
    const message = (err as Error).message;
    expect(message).to.not.include('\n');
    return message;
  }
  throw new Error(`${dir} was accepted`);
}

describe('snapshot directory: state file and memory file', () => {
  let root: string;
  let n = 0;
  const fresh = () => join(root, `snap-${n++}`);
  /** A good snapshot in a new directory. */
  const good = () => {
    const dir = fresh();
    writeSnapshot(dir, sampleState(), sampleMemory());
    return dir;
  };
  /** A snapshot whose state file holds `payload`, properly checksummed. */
  const withPayload = (change: (payload: Payload) => void) => {
    const dir = good();
    const payload = JSON.parse(JSON.stringify(serializeSnapshotState({ ...sampleState(), memory: readSnapshot(dir).state.memory }))) as Payload;
    change(payload);
    writeFileSync(join(dir, STATE_FILE), encodeContainer(payload));
    return dir;
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'mvm-snapshot-spec-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads back what was written, and the memory file holds data only where the guest wrote', () => {
    const dir = fresh();
    const written = writeSnapshot(dir, sampleState(), sampleMemory());
    expect(written.dataBytes).to.equal(3 * 4096);
    expect(written.allocatedBytes).to.be.at.most(64 * 1024);
    const { state, memoryPath } = readSnapshot(dir);
    expect(statSync(memoryPath).size).to.equal(2 * MiB);
    const bytes = readFileSync(memoryPath);
    expect(bytes[0x1000]).to.equal(0xaa);
    expect(bytes[0x3fff]).to.equal(0xbb);
    expect(bytes[2 * MiB - 1]).to.equal(0xcc);
    expect(bytes.subarray(0x5000, MiB).every((b) => b === 0)).to.equal(true);
    expect(state.memory.regions).to.deep.equal([
      { guestAddress: 0, size: MiB, fileOffset: 0 },
      { guestAddress: 0x10_0000_000, size: MiB, fileOffset: MiB },
    ]);
    const expected = sampleState();
    expect(state.machine).to.deep.equal(expected.machine);
    expect(state.vm).to.deep.equal(expected.vm);
    expect(state.vcpus).to.deep.equal(expected.vcpus);
    expect(state.virtio).to.deep.equal(expected.virtio);
    expect(state.legacy).to.deep.equal(expected.legacy);
    expect(state.launch).to.deep.equal(expected.launch);
    expect(state.cpuid).to.deep.equal(expected.cpuid);
  });

  it('never writes into a directory that already holds files', () => {
    const dir = good();
    expect(() => writeSnapshot(dir, sampleState(), sampleMemory())).to.throw(SnapshotError, /not empty/);
    expect(readSnapshot(dir).state.machine.cpus).to.equal(2);
  });

  it('refuses damaged envelopes: truncated, corrupted, foreign, future, missing', () => {
    const truncatedAt = (bytes: number) => {
      const dir = good();
      truncateSync(join(dir, STATE_FILE), bytes);
      return dir;
    };
    const patched = (offset: number, value: number) => {
      const dir = good();
      const file = readFileSync(join(dir, STATE_FILE));
      file[offset] = value;
      writeFileSync(join(dir, STATE_FILE), file);
      return dir;
    };
    const stateLength = statSync(join(good(), STATE_FILE)).size;
    const foreign = good();
    writeFileSync(join(foreign, STATE_FILE), Buffer.from('\x89PNG\r\n\x1a\n not a snapshot at all'));
    const empty = good();
    writeFileSync(join(empty, STATE_FILE), '');
    const missing = good();
    unlinkSync(join(missing, STATE_FILE));
    const trailing = good();
    writeFileSync(join(trailing, STATE_FILE), Buffer.concat([readFileSync(join(trailing, STATE_FILE)), Buffer.from('xx')]));
    const corpus: [string, RegExp][] = [
      [truncatedAt(30), /truncated: 30 bytes, shorter than its 56-byte header/],
      [truncatedAt(HEADER_BYTES + 10), /truncated: 10 of \d+ state bytes/],
      [truncatedAt(stateLength - 1), /truncated/],
      [trailing, /2 bytes after its state/],
      [patched(HEADER_BYTES + 40, 0x20), /corrupted: its checksum does not match/],
      [patched(30, 0), /corrupted: its checksum/],
      [patched(8, FORMAT_VERSION + 1), /format 2, made by a newer mvm; this one reads format 1/],
      [patched(8, 0), /format 0, which no mvm wrote/],
      [patched(12, 1), /reserved header bits/],
      [patched(0, 0x6d), /not an mvm snapshot state file/],
      [foreign, /not an mvm snapshot state file/],
      [empty, /not an mvm snapshot state file/],
      [missing, /holds no snapshot \(no state\.mvm/],
      [join(root, 'does-not-exist'), /holds no snapshot/],
    ];
    for (const [dir, message] of corpus) expect(refusal(dir), dir).to.match(message);
  });

  it('refuses a memory file that is shorter or longer than the machine, or missing', () => {
    const shorter = good();
    truncateSync(join(shorter, 'memory.bin'), MiB);
    expect(refusal(shorter)).to.match(/memory file .* is 1048576 bytes, the machine has 2097152/);
    const longer = good();
    truncateSync(join(longer, 'memory.bin'), 3 * MiB);
    expect(refusal(longer)).to.match(/is 3145728 bytes/);
    const gone = good();
    unlinkSync(join(gone, 'memory.bin'));
    expect(refusal(gone)).to.match(/cannot open the snapshot's memory file .*ENOENT/);
  });

  it('refuses checksummed states whose fields do not hold up, naming the field', () => {
    const corpus: [(p: Payload) => void, RegExp][] = [
      [(p) => (p['machine']['memoryBytes'] = 3 * MiB), /memory file holds 2097152 bytes, the machine has 3145728/],
      [(p) => (p['machine']['memoryBytes'] = 2 * MiB + 1), /not a whole number of 4 KiB pages/],
      [(p) => (p['machine']['cpus'] = 3), /holds 2 vCPUs' state for a machine of 3/],
      [(p) => (p['machine']['cpus'] = 0), /vCPU count is 0/],
      [(p) => (p['memory']['file'] = '../../etc/passwd'), /memory file is called "..\/..\/etc\/passwd"/],
      [(p) => (p['memory']['regions'][1]['fileOffset'] = 0), /region 1 is at file offset 0, expected 1048576/],
      [(p) => (p['memory']['regions'][1]['guestAddress'] = 0x8_0000), /region 1 overlaps/],
      [(p) => (p['memory']['regions'][0]['guestAddress'] = 0x800), /region 0 is not page-aligned/],
      [(p) => p['memory']['regions'].pop(), /regions cover 1048576 bytes/],
      [(p) => (p['vcpus'][1]['id'] = 0), /vCPU 1 is recorded as vCPU 0/],
      [(p) => (p['vcpus'][0]['regs'] = Buffer.alloc(100).toString('base64')), /vCPU 0's registers is 100 bytes, not 144/],
      [(p) => (p['vcpus'][0]['lapic'] = 'not*base64'), /vCPU 0's LAPIC is not base64/],
      [(p) => (p['vcpus'][0]['xsave'] = Buffer.alloc(1000).toString('base64')), /XSAVE area is 1000 bytes, not 4096 to/],
      [(p) => (p['vcpus'][0]['fpu'] = Buffer.alloc(416).toString('base64')), /exactly one of an XSAVE area and an FPU state/],
      [(p) => (p['vcpus'][0]['mpState'] = 42), /MP state is 42/],
      [(p) => (p['vcpus'][0]['msrs'][0] = [0x10, '-1']), /MSR 0 value is "-1", not an unsigned 64-bit number/],
      [(p) => (p['vcpus'][0]['msrs'][0] = [0x10, '18446744073709551616']), /not an unsigned 64-bit number/],
      [(p) => (p['vcpus'][0]['msrs'][1] = 16), /MSR 1 is not an \[index, value\] pair/],
      [(p) => (p['vm']['pit'] = Buffer.alloc(111).toString('base64')), /PIT state is 111 bytes, not 112/],
      [(p) => (p['vm']['clockNs'] = 12), /kvmclock is 12, not an unsigned 64-bit number/],
      [(p) => (p['virtio'] = []), /0 virtio device states for 1 slots/],
      [(p) => (p['virtio'][0]['deviceType'] = 1), /slot 0 holds the state of device type 1, the machine has type 4/],
      [(p) => (p['virtio'][0]['queues'][0]['nextUsed'] = 70000), /virtio slot 0 queue 0 next used index is 70000/],
      [(p) => delete p['vm'], /the VM state is not an object/],
      [(p) => (p['legacy']['serial']['input'] = [300]), /UART state: input byte 0 is 300/],
      [(p) => (p['legacy']['serial']['divisor'] = 1 << 16), /UART state: divisor is 65536/],
      [(p) => (p['legacy']['i8042']['output'] = -2), /i8042 state: output is -2/],
      [(p) => delete p['legacy'], /legacy device states is not an object/],
      [(p) => (p['launch'] = 'x'), /launch record is not an object/],
      [(p) => (p['cpuid'][1] = [7, 0, 1, 0, 0, 0]), /CPUID entry 1 is not 7 numbers/],
      [(p) => (p['cpuid'][0][4] = 2 ** 32), /CPUID entry 0 field 4 is 4294967296/],
      [(p) => (p['machine'] = []), /machine description is not an object/],
    ];
    for (const [change, message] of corpus) expect(refusal(withPayload(change))).to.match(message);
  });
});
