// One line per command module; each module exports `register(program)`.
import type { Command } from 'commander';
import { register as registerImage } from './image.js';
import { register as registerHelper } from './helper.js';
import { register as registerDoctor } from './doctor.js';
import { register as registerRun } from './run.js';
import { register as registerBench } from './bench.js';

export function registerCommands(program: Command): void {
  void program;
  registerImage(program);
  registerHelper(program);
  registerDoctor(program);
  registerRun(program);
  registerBench(program);
}
