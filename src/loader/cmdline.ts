// Builds the kernel command line and writes it into guest memory.
//
// The kernel splits its command line at whitespace (lib/cmdline.c,
// next_arg()); a double quote starts and ends a quoted run in which spaces do
// not split, and there is no escape character. So a value with spaces is
// passed as key="value with spaces", and a double quote inside a key or value
// can never be passed at all. Control characters (NUL ends the string, a
// newline is whitespace) are refused outright, never silently changed.
import { BootError, hex } from '../arch/x86_64/boot-error.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START } from '../arch/x86_64/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/** The one quote character the kernel's parser knows. */
const QUOTE = '"';
/** memparse()'s K suffix multiplies by 1024; slot sizes are written with it. */
const KIB = 1024;
/** Characters next_arg() treats as separators (isspace() in the kernel's ctype). */
const WHITESPACE = /[ \t\n\v\f\r]/;
/** C0 controls and DEL: never valid on a command line. */
const CONTROL = /[\u0000-\u001f\u007f]/;

const encoder = new TextEncoder();

function refuseControl(text: string, what: string): void {
  if (CONTROL.test(text)) {
    throw new BootError(`kernel command line: ${what} ${JSON.stringify(text)} contains a control character (NUL, newline, …)`);
  }
}

/** A kernel command line under construction; every piece is validated on entry. */
export class KernelCmdline {
  private readonly params: string[] = [];

  /** `capacity` includes the terminating NUL, as the kernel's COMMAND_LINE_SIZE does. */
  constructor(private readonly capacity = CMDLINE_MAX_SIZE) {}

  /** Appends `key=value`, quoting the value when it contains spaces. */
  set(key: string, value: string | number): this {
    checkKey(key);
    const text = String(value);
    refuseControl(text, 'value');
    if (text.includes(QUOTE)) {
      throw new BootError(`kernel command line: value ${JSON.stringify(text)} of ${key} contains a double quote, which the kernel cannot parse`);
    }
    const quoted = text === '' || WHITESPACE.test(text) ? `${QUOTE}${text}${QUOTE}` : text;
    return this.push(`${key}=${quoted}`);
  }

  /** Appends a parameter without a value, such as `nomodule`. */
  flag(key: string): this {
    checkKey(key);
    return this.push(key);
  }

  /**
   * Appends text the user wrote as a whole (e.g. `--cmdline "quiet foo=bar"`).
   * It is passed as written, so it may carry its own quotes, but they must
   * balance: an unclosed quote would swallow every parameter after it.
   */
  appendRaw(text: string): this {
    refuseControl(text, 'text');
    const trimmed = text.trim();
    if (trimmed === '') return this;
    if ((trimmed.split(QUOTE).length - 1) % 2 !== 0) {
      throw new BootError(`kernel command line: ${JSON.stringify(text)} has an unbalanced double quote`);
    }
    return this.push(trimmed);
  }

  /**
   * Announces one virtio-mmio device the way drivers/virtio/virtio_mmio.c
   * expects it: `virtio_mmio.device=<size>@<base>:<irq>`, size in memparse
   * syntax (K suffix), base in hex.
   */
  addVirtioMmioDevice(base: number, size: number, gsi: number): this {
    if (!Number.isSafeInteger(base) || base < 0) throw new BootError(`virtio-mmio base ${base} is not an address`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new BootError(`virtio-mmio size ${size} is not a size`);
    if (!Number.isInteger(gsi) || gsi < 0) throw new BootError(`virtio-mmio interrupt ${gsi} is not a GSI`);
    const sizeText = size % KIB === 0 ? `${size / KIB}K` : String(size);
    return this.set('virtio_mmio.device', `${sizeText}@${hex(base)}:${gsi}`);
  }

  toString(): string {
    return this.params.join(' ');
  }

  /** The command line as the kernel reads it: UTF-8 bytes and a terminating NUL. */
  toBytes(): Uint8Array {
    const text = encoder.encode(this.toString());
    const bytes = new Uint8Array(text.length + 1);
    bytes.set(text);
    return bytes;
  }

  private push(param: string): this {
    const candidate = [...this.params, param].join(' ');
    const size = encoder.encode(candidate).length + 1;
    if (size > this.capacity) {
      throw new BootError(`kernel command line would be ${size} bytes with its terminating NUL; the limit is ${this.capacity}`);
    }
    this.params.push(param);
    return this;
  }
}

function checkKey(key: string): void {
  refuseControl(key, 'parameter');
  if (key === '' || WHITESPACE.test(key) || key.includes('=') || key.includes(QUOTE)) {
    throw new BootError(`kernel command line: ${JSON.stringify(key)} is not a valid parameter name`);
  }
}

/** Where the command line went and how long it is, for the zero page. */
export interface PlacedCmdline {
  readonly address: number;
  /** Length in bytes without the terminating NUL. */
  readonly length: number;
}

/** Writes the NUL-terminated command line at CMDLINE_START. */
export function writeCmdline(memory: GuestMemory, cmdline: KernelCmdline): PlacedCmdline {
  const bytes = cmdline.toBytes();
  if (bytes.length > CMDLINE_MAX_SIZE) {
    throw new BootError(`kernel command line is ${bytes.length} bytes; the limit is ${CMDLINE_MAX_SIZE}`);
  }
  // Linux copies a full COMMAND_LINE_SIZE buffer from cmd_line_ptr, so clear it all.
  memory.fill(CMDLINE_START, CMDLINE_MAX_SIZE, 0);
  memory.write(CMDLINE_START, bytes);
  return { address: CMDLINE_START, length: bytes.length - 1 };
}
