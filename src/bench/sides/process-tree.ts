// The processes that make up an instance: a root pid and its descendants,
// read from /proc (Linux only, as is everything mvm runs).
import * as fs from 'node:fs';

/** The parent pid in /proc/PID/stat, or undefined when the process is gone or the line is unreadable. */
export function parentPid(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  return Number.isInteger(ppid) && ppid >= 0 ? ppid : undefined;
}

/** ROOT and every live descendant of it, ROOT first; empty when ROOT is gone. */
export function processTree(root: number): number[] {
  if (parentPid(root) === undefined) return [];
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentPid(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}
