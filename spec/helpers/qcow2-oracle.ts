// Test helpers that drive QEMU's qemu-img and qemu-io, the oracle every disk
// spec compares mvm against, plus a temp folder per spec.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSync } from '../../src/disk/open.js';
import { mulberry32 } from './prng.js';

export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-disk-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs qemu-img and returns its exit status and output, without throwing. */
export function qemuImgStatus(...args: string[]): { status: number; out: string } {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Applies qemu-io commands (e.g. "write -P 0x11 0 4k") to an image in one process. */
export function qemuIo(image: string, commands: string[], format = 'qcow2'): void {
  const args = ['-f', format];
  for (const c of commands) args.push('-c', c);
  const r = spawnSync('qemu-io', [...args, image], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || /error|failed/i.test(r.stdout + r.stderr)) {
    throw new Error(`qemu-io failed on ${image}: ${r.stdout}${r.stderr}`);
  }
}

/** The image's guest contents according to QEMU. */
export function qemuRaw(image: string): Buffer {
  const out = `${image}.oracle.raw`;
  qemuImg('convert', '-O', 'raw', image, out);
  const data = fs.readFileSync(out);
  fs.rmSync(out);
  return data;
}

/** The image's guest contents according to mvm. */
export function mvmRaw(image: string): Buffer {
  const disk = openSync(image, { readOnly: true });
  try {
    const buf = Buffer.alloc(disk.size);
    disk.readSync(0, buf);
    return buf;
  } finally {
    disk.closeSync();
  }
}

/** `qemu-img check` exit status: 0 clean, 2 corrupt, 3 leaks. */
export function qemuCheck(image: string): number {
  return qemuImgStatus('check', image).status;
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing sequence can be replayed. */
export function seededRandom(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n: number) => Math.floor(next() * n);
}
