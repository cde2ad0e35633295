// Copying to and from the scattered guest buffers of a descriptor chain. The
// segments were validated by chain.ts, so each lies inside one RAM region.
import type { GuestMemory } from '../memory/guest-memory.js';
import type { Segment } from './chain.js';

/** Copies `length` bytes starting `offset` bytes into the segments; fewer if they end first. */
export function gather(memory: GuestMemory, segments: readonly Segment[], offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let skip = offset;
  let filled = 0;
  for (const s of segments) {
    if (filled >= length) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const n = Math.min(s.length - skip, length - filled);
    out.set(memory.slice(s.address + skip, n), filled);
    filled += n;
    skip = 0;
  }
  return filled === length ? out : out.subarray(0, filled);
}

/** Writes `data` starting `offset` bytes into the segments; returns the bytes written. */
export function scatter(memory: GuestMemory, segments: readonly Segment[], offset: number, data: Uint8Array): number {
  let skip = offset;
  let done = 0;
  for (const s of segments) {
    if (done >= data.length) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const n = Math.min(s.length - skip, data.length - done);
    memory.slice(s.address + skip, n).set(data.subarray(done, done + n));
    done += n;
    skip = 0;
  }
  return done;
}

/** The sub-list of segments covering [offset, offset+length) of the whole list. */
export function subRange(segments: readonly Segment[], offset: number, length: number): Segment[] {
  const out: Segment[] = [];
  let skip = offset;
  let left = length;
  for (const s of segments) {
    if (left <= 0) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const n = Math.min(s.length - skip, left);
    out.push({ address: s.address + skip, length: n });
    left -= n;
    skip = 0;
  }
  return out;
}
