// Just enough of the i8042 keyboard controller for Linux to probe it and to
// reset the machine through it: `reboot=k` makes the guest write 0xfe (pulse
// the reset line) to the command port, which mvm turns into a clean VM exit.
import type { BusDevice } from '../../bus/bus.js';
import { SavedStateError, checkBoolean, checkInteger } from '../../virtio/saved-state.js';

// Offsets from the data port 0x60: data is 0, command/status is 4 (port 0x64).
const DATA_OFFSET = 0;
const COMMAND_OFFSET = 4;

// Controller commands (written to 0x64).
const CMD_READ_CONFIG = 0x20;
const CMD_WRITE_CONFIG = 0x60;
const CMD_DISABLE_AUX = 0xa7;
const CMD_ENABLE_AUX = 0xa8;
const CMD_TEST_CONTROLLER = 0xaa;
const CMD_TEST_KEYBOARD_PORT = 0xab;
const CMD_DISABLE_KEYBOARD = 0xad;
const CMD_ENABLE_KEYBOARD = 0xae;
const CMD_READ_OUTPUT_PORT = 0xd0;
const CMD_PULSE_RESET = 0xfe;

const CONTROLLER_TEST_PASSED = 0x55;
const PORT_TEST_PASSED = 0x00;

// Status register bits.
const STATUS_OUTPUT_FULL = 0x01;
const STATUS_SYSTEM_FLAG = 0x04; // set after a successful self-test
const STATUS_COMMAND = 0x08; // last write was a command

/** Config byte after power-on: keyboard interrupt enabled, system flag, translation. */
const DEFAULT_CONFIG = 0x45;
/** Output port: A20 enabled and the CPU not held in reset. */
const OUTPUT_PORT_VALUE = 0x03;

export class I8042 implements BusDevice {
  private config = DEFAULT_CONFIG;
  private output: number | undefined;
  private expectingConfig = false;
  private lastWasCommand = false;

  /** `onReset` is called when the guest pulses the reset line. */
  constructor(private readonly onReset: () => void) {}

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === COMMAND_OFFSET) {
      data[0] = STATUS_SYSTEM_FLAG | (this.lastWasCommand ? STATUS_COMMAND : 0) | (this.output !== undefined ? STATUS_OUTPUT_FULL : 0);
    } else if (offset === DATA_OFFSET) {
      data[0] = this.output ?? 0;
      this.output = undefined;
    }
  }

  write(offset: number, data: Uint8Array): void {
    const value = data[0] ?? 0;
    if (offset === COMMAND_OFFSET) {
      this.lastWasCommand = true;
      this.command(value);
    } else if (offset === DATA_OFFSET) {
      this.lastWasCommand = false;
      if (this.expectingConfig) {
        this.config = value;
        this.expectingConfig = false;
      }
      // Bytes for the keyboard itself are dropped: there is no keyboard.
    }
  }

  private command(value: number): void {
    switch (value) {
      case CMD_READ_CONFIG:
        this.output = this.config;
        break;
      case CMD_WRITE_CONFIG:
        this.expectingConfig = true;
        break;
      case CMD_TEST_CONTROLLER:
        this.output = CONTROLLER_TEST_PASSED;
        break;
      case CMD_TEST_KEYBOARD_PORT:
        this.output = PORT_TEST_PASSED;
        break;
      case CMD_READ_OUTPUT_PORT:
        this.output = OUTPUT_PORT_VALUE;
        break;
      case CMD_PULSE_RESET:
        this.onReset();
        break;
      case CMD_DISABLE_AUX:
      case CMD_ENABLE_AUX:
      case CMD_DISABLE_KEYBOARD:
      case CMD_ENABLE_KEYBOARD:
        // Known and accepted: nothing sits behind either port to enable or disable.
        break;
      default:
        // Anything else a guest sends is ignored too, as a controller without devices would.
        break;
    }
  }

  // ---- snapshots --------------------------------------------------------------

  saveState(): I8042State {
    return { config: this.config, output: this.output ?? -1, expectingConfig: this.expectingConfig, lastWasCommand: this.lastWasCommand };
  }

  /** Takes a checked state (parseI8042State) into a fresh controller. */
  restoreState(state: I8042State): void {
    this.config = state.config;
    this.output = state.output < 0 ? undefined : state.output;
    this.expectingConfig = state.expectingConfig;
    this.lastWasCommand = state.lastWasCommand;
  }
}

export interface I8042State {
  readonly config: number;
  /** The byte waiting in the output buffer, -1 for none. */
  readonly output: number;
  readonly expectingConfig: boolean;
  readonly lastWasCommand: boolean;
}

export function parseI8042State(value: unknown, what = 'the i8042 state'): I8042State {
  if (typeof value !== 'object' || value === null) throw new SavedStateError(`${what} is not an object`);
  const o = value as Record<string, unknown>;
  const output = o['output'];
  return {
    config: checkInteger(o['config'], 0xff, `${what}: config`),
    output: output === -1 ? -1 : checkInteger(output, 0xff, `${what}: output`),
    expectingConfig: checkBoolean(o['expectingConfig'], `${what}: expectingConfig`),
    lastWasCommand: checkBoolean(o['lastWasCommand'], `${what}: lastWasCommand`),
  };
}
