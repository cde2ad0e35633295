// Reads an ini file into its sections, in file order, keeping line numbers.
//
// Keys, values and section names are unquoted and stripped of inline
// comments by the `ini` package (`ini.unsafe`: "quoted" and 'quoted' values,
// `\;` and `\#` escapes, `;`/`#` comments), so mvm's files mean what they
// mean to every other ini reader. The line structure is walked here rather
// than by `ini.decode`, because decode is lenient where a config must be
// strict: it keeps the last of two equal keys silently, merges a repeated
// section, turns any line without "=" into `key = true` (so a JSON or shell
// file "parses"), and re-orders sections named like numbers — while the
// order of [drive.*] sections is the order of the guest's disks.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import ini from 'ini';
import { configError, type ConfigPlace } from './config-error.js';

export interface IniEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface IniSection {
  /** As written between the brackets (unquoted), e.g. "machine" or "drive.root". */
  readonly name: string;
  readonly line: number;
  readonly entries: readonly IniEntry[];
}

export interface IniFile {
  /** The path as the user gave it, for messages. */
  readonly file: string;
  readonly absolutePath: string;
  readonly sections: readonly IniSection[];
}

/** A machine's config is a few hundred bytes; a file far larger is the wrong file, not a config. */
const MAX_CONFIG_BYTES = 1024 * 1024;

const BLANK_OR_COMMENT = /^\s*(?:[;#].*)?$/;
/** `[name]`, optionally followed by a comment. */
const SECTION_HEADER = /^\s*\[([^\]]*)\]\s*(?:[;#].*)?$/;
/** Shown (shortened) when a line is not ini, so the user sees which line. */
const MAX_QUOTED_LINE = 40;

export function readIniFile(file: string): IniFile {
  const absolutePath = resolve(file);
  const text = readConfigText(file, absolutePath);
  const sections: { name: string; line: number; entries: IniEntry[] }[] = [];
  const sectionLines = new Map<string, number>();
  let current: { name: string; line: number; entries: IniEntry[] } | undefined;

  text.split(/\r?\n/).forEach((content, index) => {
    const line = index + 1;
    if (BLANK_OR_COMMENT.test(content)) return;
    const header = SECTION_HEADER.exec(content);
    if (header) {
      const name = ini.unsafe(header[1]!);
      if (name === '') throw configError({ file, line }, 'empty section name []');
      const first = sectionLines.get(name);
      if (first !== undefined)
        throw configError({ file, line, section: name }, `section given twice (first on line ${first}); put all its keys in one section`);
      sectionLines.set(name, line);
      current = { name, line, entries: [] };
      sections.push(current);
      return;
    }
    const equals = content.indexOf('=');
    if (equals < 0 || content.trimStart().startsWith('[')) {
      throw configError(
        { file, line },
        `"${shorten(content.trim())}" is not a [section] header, a key = value line or a comment: is this an ini file?`,
      );
    }
    const key = ini.unsafe(content.slice(0, equals));
    if (key === '') throw configError({ file, line }, 'a "= value" line without a key');
    if (!current) throw configError({ file, line, key }, `key "${key}" outside any section; put it under its [section]`);
    const place: ConfigPlace = { file, line, section: current.name, key };
    const earlier = current.entries.find((e) => e.key === key);
    if (earlier) throw configError(place, `given twice in one section (first on line ${earlier.line})`);
    current.entries.push({ key, value: ini.unsafe(content.slice(equals + 1)), line });
  });
  return { file, absolutePath, sections };
}

function readConfigText(file: string, absolutePath: string): string {
  let size: number;
  try {
    const st = statSync(absolutePath);
    if (!st.isFile()) throw configError({ file }, 'not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') throw configError({ file }, 'no such file');
    if (err instanceof Error && 'code' in err) throw configError({ file }, `cannot read it (${err.message})`);
    throw err;
  }
  if (size > MAX_CONFIG_BYTES)
    throw configError({ file }, `${size} bytes is too large for a VM config (at most ${MAX_CONFIG_BYTES}): not an ini file?`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(absolutePath);
  } catch (err) {
    throw configError({ file }, `cannot read it (${err instanceof Error ? err.message : String(err)})`);
  }
  if (bytes.includes(0)) throw configError({ file }, 'binary data (a NUL byte): not an ini file');
  try {
    // Drops a leading byte-order mark, as editors on some systems write one.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw configError({ file }, 'not UTF-8 text: not an ini file');
  }
}

function shorten(text: string): string {
  return text.length > MAX_QUOTED_LINE ? `${text.slice(0, MAX_QUOTED_LINE)}…` : text;
}
