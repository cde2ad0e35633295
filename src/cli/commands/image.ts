// `mvm image`: qcow2/raw image tools shaped after qemu-img. Each subcommand
// lives in its own module under image/.
import type { Command } from 'commander';
import { registerCheck } from './image/check.js';
import { registerCommit } from './image/commit.js';
import { registerCompare } from './image/compare.js';
import { registerConvert } from './image/convert.js';
import { registerCreate } from './image/create.js';
import { registerInfo } from './image/info.js';
import { registerMap } from './image/map.js';
import { registerRebase } from './image/rebase.js';
import { registerResize } from './image/resize.js';
import { registerSnapshot } from './image/snapshot.js';

export function register(program: Command): void {
  const image = program.command('image').description('create, inspect, check, compare, resize, convert and snapshot disk images (qcow2, raw)');
  for (const add of [
    registerCreate,
    registerInfo,
    registerCheck,
    registerSnapshot,
    registerCommit,
    registerRebase,
    registerResize,
    registerConvert,
    registerMap,
    registerCompare,
  ]) {
    add(image);
  }
}
