// A 16550A UART as the guest console (COM1). Transmission is instantaneous:
// a byte written to THR goes straight to the output sink and the transmitter
// is immediately empty again. Received bytes wait in a bounded queue that
// stands in for the FIFO. Register semantics follow the National
// Semiconductor PC16550D data sheet.
import type { BusDevice } from '../../bus/bus.js';
import { SavedStateError, checkBoolean, checkInteger } from '../../virtio/saved-state.js';

// Register offsets from the base port.
const DATA = 0; // RBR (read) / THR (write); DLL when DLAB is set
const IER = 1; // interrupt enable; DLM when DLAB is set
const IIR_FCR = 2; // IIR (read) / FCR (write)
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

// IER bits.
const IER_RX_AVAILABLE = 0x01;
const IER_THR_EMPTY = 0x02;
const IER_MASK = 0x0f;

// IIR values (bits 3:0) and the FIFO-enabled marker in bits 7:6.
const IIR_NONE = 0x01;
const IIR_THR_EMPTY = 0x02;
const IIR_RX_AVAILABLE = 0x04;
const IIR_FIFO_ENABLED = 0xc0;

const FCR_ENABLE_FIFO = 0x01;
const FCR_CLEAR_RX = 0x02;

const LCR_DLAB = 0x80;

// MCR bits.
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;

// LSR bits.
const LSR_DATA_READY = 0x01;
const LSR_OVERRUN = 0x02;
const LSR_THR_EMPTY = 0x20;
const LSR_TRANSMITTER_EMPTY = 0x40;

// MSR bits.
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

/** Input the guest has not read yet, beyond which further input is dropped (and counted). */
export const SERIAL_INPUT_LIMIT = 64 * 1024;

/** Divisor for 115200 baud from the 1.8432 MHz clock, the usual power-on value. */
const DEFAULT_DIVISOR = 1;

export interface SerialSinks {
  /** Bytes the guest transmitted. */
  output(bytes: Uint8Array): void;
  /** The interrupt line: true while an enabled interrupt is pending. */
  interrupt(level: boolean): void;
}

export class Serial16550 implements BusDevice {
  private ier = 0;
  private lcr = 0x03; // 8 data bits, no parity, 1 stop bit
  private mcr = MCR_OUT2;
  private scratch = 0;
  private divisor = DEFAULT_DIVISOR;
  private fifoEnabled = false;
  private thrEmptyPending = false;
  private overrun = false;
  private input: number[] = [];
  private inputHead = 0;
  private lineLevel = false;
  /** Bytes dropped because the guest was not reading. */
  droppedInput = 0;
  transmitted = 0;

  constructor(private readonly sinks: SerialSinks) {}

  /** Queues bytes typed on the host for the guest to read. */
  receive(bytes: Uint8Array): void {
    for (const byte of bytes) this.pushInput(byte);
    this.updateInterrupt();
  }

  get pendingInput(): number {
    return this.input.length - this.inputHead;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    data[0] = this.readRegister(offset);
    this.updateInterrupt();
  }

  write(offset: number, data: Uint8Array): void {
    this.writeRegister(offset, data[0] ?? 0);
    this.updateInterrupt();
  }

  private readRegister(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case DATA:
        return dlab ? this.divisor & 0xff : this.popInput();
      case IER:
        return dlab ? (this.divisor >> 8) & 0xff : this.ier;
      case IIR_FCR: {
        const id = this.pendingInterrupt();
        // Reading IIR acknowledges a THR-empty interrupt (16550 data sheet, table IV).
        if (id === IIR_THR_EMPTY) this.thrEmptyPending = false;
        return id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        let lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY;
        if (this.pendingInput > 0) lsr |= LSR_DATA_READY;
        if (this.overrun) lsr |= LSR_OVERRUN;
        this.overrun = false; // cleared by reading LSR
        return lsr;
      }
      case MSR:
        return this.modemStatus();
      case SCR:
        return this.scratch;
      default:
        return 0xff;
    }
  }

  private writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case DATA:
        if (dlab) {
          this.divisor = (this.divisor & 0xff00) | value;
        } else {
          this.transmit(value);
        }
        return;
      case IER:
        if (dlab) {
          this.divisor = (this.divisor & 0x00ff) | (value << 8);
        } else {
          const enablingThrEmpty = (value & IER_THR_EMPTY) !== 0 && (this.ier & IER_THR_EMPTY) === 0;
          this.ier = value & IER_MASK;
          // The transmitter is always empty here, so enabling its interrupt raises it at once;
          // Linux's 8250 driver relies on this to start transmitting.
          if (enablingThrEmpty) this.thrEmptyPending = true;
        }
        return;
      case IIR_FCR:
        this.fifoEnabled = (value & FCR_ENABLE_FIFO) !== 0;
        if (value & FCR_CLEAR_RX) this.clearInput();
        return;
      case LCR:
        this.lcr = value;
        return;
      case MCR:
        this.mcr = value & MCR_MASK;
        return;
      case SCR:
        this.scratch = value;
        return;
      default:
        // LSR and MSR are read-only; writes are ignored as on the real part.
        return;
    }
  }

  private transmit(byte: number): void {
    if (this.mcr & MCR_LOOP) {
      this.pushInput(byte);
    } else {
      this.transmitted++;
      this.sinks.output(Uint8Array.of(byte));
    }
    this.thrEmptyPending = true;
  }

  private modemStatus(): number {
    if (this.mcr & MCR_LOOP) {
      // In loopback the modem outputs are wired to the modem inputs.
      let msr = 0;
      if (this.mcr & MCR_RTS) msr |= MSR_CTS;
      if (this.mcr & MCR_DTR) msr |= MSR_DSR;
      if (this.mcr & MCR_OUT1) msr |= MSR_RI;
      if (this.mcr & MCR_OUT2) msr |= MSR_DCD;
      return msr;
    }
    // A console that is always connected and ready.
    return MSR_DCD | MSR_DSR | MSR_CTS;
  }

  private pendingInterrupt(): number {
    if (this.ier & IER_RX_AVAILABLE && this.pendingInput > 0) return IIR_RX_AVAILABLE;
    if (this.ier & IER_THR_EMPTY && this.thrEmptyPending) return IIR_THR_EMPTY;
    return IIR_NONE;
  }

  private updateInterrupt(): void {
    const level = this.pendingInterrupt() !== IIR_NONE;
    if (level !== this.lineLevel) {
      this.lineLevel = level;
      this.sinks.interrupt(level);
    }
  }

  private pushInput(byte: number): void {
    if (this.pendingInput >= SERIAL_INPUT_LIMIT) {
      this.droppedInput++;
      this.overrun = true;
      return;
    }
    this.input.push(byte);
  }

  private popInput(): number {
    if (this.pendingInput === 0) return 0;
    const byte = this.input[this.inputHead++]!;
    // Compact now and then instead of shifting on every read.
    if (this.inputHead > 4096 && this.inputHead * 2 > this.input.length) {
      this.input = this.input.slice(this.inputHead);
      this.inputHead = 0;
    }
    return byte;
  }

  private clearInput(): void {
    this.input = [];
    this.inputHead = 0;
  }

  // ---- snapshots --------------------------------------------------------------

  /** The registers and the input not yet read by the guest. */
  saveState(): SerialState {
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scratch: this.scratch,
      divisor: this.divisor,
      fifoEnabled: this.fifoEnabled,
      thrEmptyPending: this.thrEmptyPending,
      overrun: this.overrun,
      input: this.input.slice(this.inputHead),
      lineLevel: this.lineLevel,
    };
  }

  /**
   * Takes a checked state (parseSerialState) into a fresh UART. The line
   * level is taken as it was, not raised again: the restored interrupt
   * controllers already hold it.
   */
  restoreState(state: SerialState): void {
    this.ier = state.ier;
    this.lcr = state.lcr;
    this.mcr = state.mcr;
    this.scratch = state.scratch;
    this.divisor = state.divisor;
    this.fifoEnabled = state.fifoEnabled;
    this.thrEmptyPending = state.thrEmptyPending;
    this.overrun = state.overrun;
    this.input = [...state.input];
    this.inputHead = 0;
    this.lineLevel = state.lineLevel;
  }
}

export interface SerialState {
  readonly ier: number;
  readonly lcr: number;
  readonly mcr: number;
  readonly scratch: number;
  readonly divisor: number;
  readonly fifoEnabled: boolean;
  readonly thrEmptyPending: boolean;
  readonly overrun: boolean;
  readonly input: readonly number[];
  readonly lineLevel: boolean;
}

/** Checks a UART state read back from a snapshot (every register a byte, the divisor 16 bits, the input bounded). */
export function parseSerialState(value: unknown, what = 'the UART state'): SerialState {
  if (typeof value !== 'object' || value === null) throw new SavedStateError(`${what} is not an object`);
  const o = value as Record<string, unknown>;
  const input = o['input'];
  if (!Array.isArray(input) || input.length > SERIAL_INPUT_LIMIT)
    throw new SavedStateError(`${what}: its input is not a list of at most ${SERIAL_INPUT_LIMIT} bytes`);
  return {
    ier: checkInteger(o['ier'], 0xff, `${what}: IER`),
    lcr: checkInteger(o['lcr'], 0xff, `${what}: LCR`),
    mcr: checkInteger(o['mcr'], 0xff, `${what}: MCR`),
    scratch: checkInteger(o['scratch'], 0xff, `${what}: scratch`),
    divisor: checkInteger(o['divisor'], 0xffff, `${what}: divisor`),
    fifoEnabled: checkBoolean(o['fifoEnabled'], `${what}: fifoEnabled`),
    thrEmptyPending: checkBoolean(o['thrEmptyPending'], `${what}: thrEmptyPending`),
    overrun: checkBoolean(o['overrun'], `${what}: overrun`),
    input: input.map((b, i) => checkInteger(b, 0xff, `${what}: input byte ${i}`)),
    lineLevel: checkBoolean(o['lineLevel'], `${what}: lineLevel`),
  };
}
