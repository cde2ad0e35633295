// A drive's settings, from `--disk PATH[,persistent|,ro]` or from a
// [drive.NAME] section's path and mode (see src/devices/virtio/block/drives.ts
// for what each mode does).
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DriveMode, DriveSettings } from '../devices/settings.js';
import { SettingError, flagSetting } from './setting-error.js';

export const DRIVE_MODES: readonly DriveMode[] = ['overlay', 'persistent', 'ro'];

/** Checks a drive: PATH (relative to the working directory) must be a regular file or block device. */
export function driveSettings(path: string, modeText: string = 'overlay'): DriveSettings {
  const mode = DRIVE_MODES.find((m) => m === modeText);
  if (!mode) throw new SettingError('mode', `must be ${DRIVE_MODES.slice(0, -1).join(', ')} or ${DRIVE_MODES.at(-1)}, not "${modeText}"`);
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new SettingError('path', `${absolute} does not exist`);
  const st = statSync(absolute);
  if (!st.isFile() && !st.isBlockDevice()) throw new SettingError('path', `${absolute} is not a regular file or block device`);
  return { path: absolute, mode };
}

/** Parses one --disk value. */
export function parseDriveFlag(text: string): DriveSettings {
  return flagSetting('--disk', text, () => {
    const comma = text.lastIndexOf(',');
    const suffix = comma >= 0 ? text.slice(comma + 1) : '';
    if (suffix === 'persistent' || suffix === 'ro') {
      const path = text.slice(0, comma);
      if (path === '') throw new SettingError(undefined, 'no image path');
      return driveSettings(path, suffix);
    }
    // A comma that starts no mode is part of the file's name, if there is such a file.
    if (comma >= 0 && !existsSync(text)) throw new SettingError(undefined, `unknown option "${suffix}" (use PATH, PATH,persistent or PATH,ro)`);
    if (text === '') throw new SettingError(undefined, 'no image path');
    return driveSettings(text);
  });
}
