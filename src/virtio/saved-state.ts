// The virtio-mmio transport's and its queues' state as a snapshot keeps it:
// plain numbers, so the snapshot layer can store it as JSON. What comes back
// from a snapshot file is treated like guest input: every field is checked
// (types, ranges, ring addresses inside guest RAM, ring indexes against the
// rings in the restored memory) before any of it is used.
import { UserError } from '../errors.js';

/** A saved virtqueue: the driver's configuration and the device's ring positions. */
export interface QueueState {
  readonly size: number;
  readonly ready: boolean;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Free-running u16 ring positions. */
  readonly nextAvail: number;
  readonly nextUsed: number;
  readonly signalledUsed: number;
}

/** A saved virtio-mmio register file. */
export interface TransportState {
  readonly deviceType: number;
  readonly status: number;
  readonly deviceFeaturesSel: number;
  readonly driverFeaturesSel: number;
  /** The negotiated features, as a hex string (JSON has no 64-bit integers). */
  readonly driverFeatures: string;
  readonly queueSel: number;
  readonly interruptStatus: number;
  readonly configGeneration: number;
  /** The device was started (DRIVER_OK accepted, not needing a reset). */
  readonly active: boolean;
  readonly queues: readonly QueueState[];
}

/** Saved device state that cannot be used: one line naming the device and the field. */
export class SavedStateError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'SavedStateError';
  }
}

const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

/** An integer in [0, max], or the error naming `what`. */
export function checkInteger(value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new SavedStateError(`${what} is ${JSON.stringify(value)}, not an integer from 0 to ${max}`);
  }
  return value;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new SavedStateError(`${what} is ${JSON.stringify(value)}, not true or false`);
  return value;
}

function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SavedStateError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

/** The shape and ranges of a saved queue (its addresses are checked against memory by the queue itself). */
export function parseQueueState(value: unknown, what: string): QueueState {
  const o = checkObject(value, what);
  return {
    size: checkInteger(o['size'], U16_MAX + 1, `${what} size`),
    ready: checkBoolean(o['ready'], `${what} ready`),
    descTable: checkInteger(o['descTable'], Number.MAX_SAFE_INTEGER, `${what} descriptor table address`),
    availRing: checkInteger(o['availRing'], Number.MAX_SAFE_INTEGER, `${what} available ring address`),
    usedRing: checkInteger(o['usedRing'], Number.MAX_SAFE_INTEGER, `${what} used ring address`),
    eventIdx: checkBoolean(o['eventIdx'], `${what} eventIdx`),
    indirect: checkBoolean(o['indirect'], `${what} indirect`),
    nextAvail: checkInteger(o['nextAvail'], U16_MAX, `${what} next available index`),
    nextUsed: checkInteger(o['nextUsed'], U16_MAX, `${what} next used index`),
    signalledUsed: checkInteger(o['signalledUsed'], U16_MAX, `${what} signalled used index`),
  };
}

export function parseTransportState(value: unknown, what: string): TransportState {
  const o = checkObject(value, what);
  const features = o['driverFeatures'];
  if (typeof features !== 'string' || !/^[0-9a-f]{1,16}$/.test(features)) {
    throw new SavedStateError(`${what} driver features are ${JSON.stringify(features)}, not a 64-bit hex number`);
  }
  const queues = o['queues'];
  if (!Array.isArray(queues)) throw new SavedStateError(`${what} queues are not a list`);
  return {
    deviceType: checkInteger(o['deviceType'], U32_MAX, `${what} device type`),
    status: checkInteger(o['status'], 0xff, `${what} status`),
    deviceFeaturesSel: checkInteger(o['deviceFeaturesSel'], U32_MAX, `${what} device features select`),
    driverFeaturesSel: checkInteger(o['driverFeaturesSel'], U32_MAX, `${what} driver features select`),
    driverFeatures: features,
    queueSel: checkInteger(o['queueSel'], U32_MAX, `${what} queue select`),
    interruptStatus: checkInteger(o['interruptStatus'], 0b11, `${what} interrupt status`),
    configGeneration: checkInteger(o['configGeneration'], U32_MAX, `${what} config generation`),
    active: checkBoolean(o['active'], `${what} active`),
    queues: queues.map((q, i) => parseQueueState(q, `${what} queue ${i}`)),
  };
}
