// One line per command module; each module exports `register(program)`.
import type { Command } from 'commander';
import { register as registerImage } from './image.js';

export function registerCommands(program: Command): void {
  void program;
  registerImage(program);
}
