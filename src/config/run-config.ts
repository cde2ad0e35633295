// `mvm run --config FILE.ini`: what each section and key of a VM's ini file
// means, checked key by key with the same parsers as the command-line flags,
// and turned into the option values those flags would have given (a device
// section into the same typed settings as its flag, never into flag text).
//
//   [vm]          name     (the VM's name for `mvm run -d`)
//   [machine]     vcpus, memory, rng = true|false, jail = true|false (false: --no-jail)
//   [kernel]      path, cmdline (replaces the default command line),
//                 append (parameters added to it), initrd (empty: none)
//   [console]     device = virtio|serial
//   [drive.NAME]  path, mode = overlay|persistent|ro — one per disk; in file order vda, vdb, …
//   [net.NAME]    tap, mac — one per NIC, attached in file order (NAME is a label)
//   [vsock]       cid, uds
//   [share.NAME]  path, tag (default NAME), ro = true|false, mount — one per shared directory
//
// Relative paths are relative to the ini file's folder, so a file kept next
// to its disks works from any working directory.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { MIN_MEMORY_SIZE } from '../arch/x86_64/e820.js';
import { parseSize } from '../units/size.js';
import type { DriveSettings, NetSettings, ShareSettings, VsockSettings } from '../devices/settings.js';
import { CONSOLE_DEVICES } from '../vmm/default-cmdline.js';
import { checkVmName } from '../fleet/vm-dir.js';
import { configError } from './config-error.js';
import { driveSettings } from './drive-option.js';
import { netSettings } from './net-option.js';
import { shareSettings } from './share-option.js';
import { SettingError } from './setting-error.js';
import { vsockSettings } from './vsock-option.js';
import { readIniFile, type IniEntry, type IniFile, type IniSection } from './ini-file.js';

/**
 * Option values as `mvm run`'s own flags produce them (the commander
 * attribute names of run.ts), so the command checks and uses them exactly as
 * if they had been typed. Repeatable flags are arrays.
 */
export interface RunConfigValues {
  name?: string;
  cpus?: string;
  memory?: string;
  rng?: boolean;
  jail?: boolean;
  kernel?: string;
  /** "" for no initramfs, as with --initrd "". */
  initrd?: string;
  bootArgs?: string;
  append?: string[];
  console?: string;
  disk?: DriveSettings[];
  net?: NetSettings[];
  vsock?: VsockSettings;
  share?: ShareSettings[];
}

export interface RunConfig {
  readonly absolutePath: string;
  readonly values: RunConfigValues;
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false };
/** The NAME of [drive.NAME] / [net.NAME]: a label for messages and for the reader of the file. */
const DEVICE_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** One section being read: its entries by key, and errors that name the file, section and key. */
class SectionReader {
  constructor(
    private readonly file: IniFile,
    readonly section: IniSection,
  ) {}

  entry(key: string): IniEntry | undefined {
    return this.section.entries.find((e) => e.key === key);
  }

  fail(key: string | undefined, message: string): UserError {
    const line = key === undefined ? this.section.line : (this.entry(key)?.line ?? this.section.line);
    return configError({ file: this.file.file, line, section: this.section.name, ...(key === undefined ? {} : { key }) }, message);
  }

  /**
   * Runs one of mvm's setting parsers, re-raising its error at the key it
   * names (a SettingError's key), else at `key`.
   */
  check<T>(key: string, parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      throw this.fail(err instanceof SettingError && err.key !== undefined ? err.key : key, err.message);
    }
  }

  /** A path as written in the file: relative ones start from the file's folder. */
  relativeToFile(value: string): string {
    return resolve(dirname(this.file.absolutePath), value);
  }

  /** Like relativeToFile, and it must name an existing regular file (a kernel, an initramfs). */
  existingFile(key: string, value: string): string {
    const path = this.relativeToFile(value);
    if (!existsSync(path)) throw this.fail(key, `${path} does not exist`);
    if (!statSync(path).isFile()) throw this.fail(key, `${path} is not a regular file`);
    return path;
  }
}

interface SectionKind {
  /** [drive.NAME] and [net.NAME] come once per device; the others once, without a name. */
  readonly named: boolean;
  readonly keys: readonly string[];
  readonly required: readonly string[];
  /** Keys whose empty value means something (no initrd, nothing appended). */
  readonly emptyAllowed: readonly string[];
  read(reader: SectionReader, values: RunConfigValues): void;
}

const SECTION_KINDS: Record<string, SectionKind> = {
  vm: {
    named: false,
    keys: ['name'],
    required: [],
    emptyAllowed: [],
    read(r, values) {
      const name = r.entry('name');
      if (name) values.name = r.check('name', () => checkVmName(name.value));
    },
  },
  machine: {
    named: false,
    keys: ['vcpus', 'memory', 'rng', 'jail'],
    required: [],
    emptyAllowed: [],
    read(r, values) {
      const vcpus = r.entry('vcpus');
      if (vcpus) {
        if (!/^[0-9]+$/.test(vcpus.value) || Number(vcpus.value) < 1)
          throw r.fail('vcpus', `must be a whole number of at least 1, not "${vcpus.value}"`);
        values.cpus = vcpus.value;
      }
      const memory = r.entry('memory');
      if (memory) {
        const bytes = r.check('memory', () => parseSize(memory.value, 'memory size'));
        if (bytes < MIN_MEMORY_SIZE) throw r.fail('memory', `"${memory.value}" is below the minimum of ${MIN_MEMORY_SIZE / 2 ** 20}M`);
        values.memory = memory.value;
      }
      const rng = r.entry('rng');
      if (rng) {
        const on = BOOLEANS[rng.value];
        if (on === undefined) throw r.fail('rng', `must be true or false, not "${rng.value}"`);
        values.rng = on;
      }
      const jail = r.entry('jail');
      if (jail) {
        const on = BOOLEANS[jail.value];
        if (on === undefined) throw r.fail('jail', `must be true or false, not "${jail.value}"`);
        values.jail = on;
      }
    },
  },
  kernel: {
    named: false,
    keys: ['path', 'cmdline', 'append', 'initrd'],
    required: [],
    emptyAllowed: ['initrd', 'append'],
    read(r, values) {
      const path = r.entry('path');
      if (path) values.kernel = r.existingFile('path', path.value);
      const initrd = r.entry('initrd');
      if (initrd) values.initrd = initrd.value === '' ? '' : r.existingFile('initrd', initrd.value);
      const cmdline = r.entry('cmdline');
      if (cmdline) values.bootArgs = cmdline.value;
      const append = r.entry('append');
      if (append && append.value !== '') values.append = [append.value];
    },
  },
  console: {
    named: false,
    keys: ['device'],
    required: [],
    emptyAllowed: [],
    read(r, values) {
      const device = r.entry('device');
      if (!device) return;
      if (!CONSOLE_DEVICES.some((d) => d === device.value)) throw r.fail('device', `must be ${CONSOLE_DEVICES.join(' or ')}, not "${device.value}"`);
      values.console = device.value;
    },
  },
  drive: {
    named: true,
    keys: ['path', 'mode'],
    required: ['path'],
    emptyAllowed: [],
    read(r, values) {
      const path = r.relativeToFile(r.entry('path')!.value);
      values.disk ??= [];
      values.disk.push(r.check('path', () => driveSettings(path, r.entry('mode')?.value)));
    },
  },
  net: {
    named: true,
    keys: ['tap', 'mac'],
    required: ['tap'],
    emptyAllowed: [],
    read(r, values) {
      values.net ??= [];
      values.net.push(r.check('tap', () => netSettings(r.entry('tap')!.value, r.entry('mac')?.value)));
    },
  },
  share: {
    named: true,
    keys: ['path', 'tag', 'ro', 'mount'],
    required: ['path'],
    emptyAllowed: [],
    read(r, values) {
      const path = r.relativeToFile(r.entry('path')!.value);
      const ro = r.entry('ro');
      const readOnly = ro ? BOOLEANS[ro.value] : false;
      if (readOnly === undefined) throw r.fail('ro', `must be true or false, not "${ro!.value}"`);
      const mount = r.entry('mount')?.value;
      values.share ??= [];
      values.share.push(
        r.check('path', () =>
          shareSettings(path, {
            tag: r.entry('tag')?.value ?? r.section.name.slice('share.'.length),
            readOnly,
            ...(mount ? { mountPoint: mount } : {}),
          }),
        ),
      );
    },
  },
  vsock: {
    named: false,
    keys: ['cid', 'uds'],
    required: ['cid'],
    emptyAllowed: [],
    read(r, values) {
      const uds = r.entry('uds');
      // Without uds the socket gets the default path, as with --vsock.
      values.vsock = r.check('cid', () => vsockSettings(r.entry('cid')!.value, uds && r.relativeToFile(uds.value)));
    },
  },
};

/** The sections as a user would write them, for "unknown section" messages. */
const SECTION_LIST = Object.entries(SECTION_KINDS)
  .map(([kind, k]) => (k.named ? `[${kind}.NAME]` : `[${kind}]`))
  .join(', ');

/** Reads and checks FILE; every problem is a one-line UserError naming the file, the section and the key. */
export function loadRunConfig(file: string): RunConfig {
  const ini = readIniFile(file);
  const values: RunConfigValues = {};
  for (const section of ini.sections) {
    const dot = section.name.indexOf('.');
    const kindName = dot < 0 ? section.name : section.name.slice(0, dot);
    const deviceName = dot < 0 ? undefined : section.name.slice(dot + 1);
    const kind = Object.hasOwn(SECTION_KINDS, kindName) ? SECTION_KINDS[kindName] : undefined;
    const reader = new SectionReader(ini, section);
    if (!kind || (!kind.named && deviceName !== undefined)) throw reader.fail(undefined, `unknown section (known: ${SECTION_LIST})`);
    if (kind.named && deviceName === undefined)
      throw reader.fail(undefined, `needs a name, e.g. [${kindName}.${kindName === 'net' ? 'eth0' : 'root'}]: one section per device`);
    if (kind.named && !DEVICE_NAME.test(deviceName!))
      throw reader.fail(undefined, `"${deviceName}" is not a device name (1-32 letters, digits, "_" or "-")`);
    for (const entry of section.entries) {
      if (!kind.keys.includes(entry.key))
        throw reader.fail(entry.key, `unknown key (keys of [${kindName}${kind.named ? '.NAME' : ''}]: ${kind.keys.join(', ')})`);
      if (entry.value === '' && !kind.emptyAllowed.includes(entry.key)) throw reader.fail(entry.key, 'has no value');
    }
    const missing = kind.required.find((key) => !reader.entry(key));
    if (missing) throw reader.fail(missing, `missing: every [${kindName}${kind.named ? '.NAME' : ''}] section needs it`);
    kind.read(reader, values);
  }
  return { absolutePath: ini.absolutePath, values };
}
