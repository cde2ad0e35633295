// A shared directory's settings, from `--share HOSTDIR[,tag=TAG][,ro][,mount=/PATH]`
// or from a [share.NAME] section's path, tag, ro and mount keys.
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { ShareSettings } from '../devices/settings.js';
import { SettingError, flagSetting } from './setting-error.js';

/** virtio-fs's tag field holds 36 bytes (VIRTIO 1.2, 5.11.4). */
const MAX_TAG_BYTES = 36;
/** Tags travel on the guest's kernel command line and in mount(8) arguments: kept to plain characters. */
const TAG_PATTERN = /^[A-Za-z0-9_.-]+$/;
/** A guest mount point: absolute, no spaces or commas (it travels on the kernel command line). */
const MOUNT_PATTERN = /^\/[A-Za-z0-9_./-]*$/;

/** Checks one share; `tag` defaults to the directory's name (or "root" for /). */
export function shareSettings(path: string, options: { tag?: string; readOnly?: boolean; mountPoint?: string } = {}): ShareSettings {
  if (path === '') throw new SettingError('path', 'no directory given');
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new SettingError('path', `${absolute} does not exist`);
  if (!statSync(absolute).isDirectory()) throw new SettingError('path', `${absolute} is not a directory`);
  const tag = options.tag ?? defaultTag(absolute);
  if (!TAG_PATTERN.test(tag) || Buffer.byteLength(tag) > MAX_TAG_BYTES) {
    throw new SettingError(
      'tag',
      `"${tag}" is not a tag of 1-${MAX_TAG_BYTES} letters, digits, "_", "." or "-"${options.tag === undefined ? ' (give one with tag=)' : ''}`,
    );
  }
  const mountPoint = options.mountPoint;
  if (mountPoint !== undefined && (!MOUNT_PATTERN.test(mountPoint) || mountPoint === '/' || mountPoint.split('/').includes('..'))) {
    throw new SettingError('mount', `"${mountPoint}" is not an absolute guest directory other than / (letters, digits, "_", ".", "-" and "/")`);
  }
  return { path: absolute, tag, readOnly: options.readOnly ?? false, ...(mountPoint !== undefined ? { mountPoint } : {}) };
}

function defaultTag(absolute: string): string {
  return absolute === '/' ? 'root' : basename(absolute);
}

/** Parses one --share value: HOSTDIR then comma-separated options. */
export function parseShareFlag(text: string): ShareSettings {
  return flagSetting('--share', text, () => {
    const [path, ...words] = text.split(',');
    const options: { tag?: string; readOnly?: boolean; mountPoint?: string } = {};
    for (const word of words) {
      const [key, value] = splitOption(word);
      if (key === 'ro' && value === undefined) options.readOnly = true;
      else if (key === 'tag' && value !== undefined) options.tag = value;
      else if (key === 'mount' && value !== undefined) options.mountPoint = value;
      else throw new SettingError(undefined, `unknown option "${word}" (use HOSTDIR[,tag=TAG][,ro][,mount=/PATH])`);
    }
    return shareSettings(path ?? '', options);
  });
}

function splitOption(word: string): [string, string | undefined] {
  const eq = word.indexOf('=');
  return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
}

/** The whole list: a tag used twice is an error (the guest could mount only one of them). */
export function checkShares(shares: readonly ShareSettings[]): void {
  const seen = new Set<string>();
  for (const share of shares) {
    if (seen.has(share.tag)) throw new SettingError(undefined, `the tag "${share.tag}" is given to two shares (give each its own with tag=)`);
    seen.add(share.tag);
  }
}
