#!/usr/bin/env node
// The mvm binary: builds the commander program from one module per command
// and hands every failure to the single error handler.
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { exitWithError } from './errors.js';

const program = new Command('mvm')
  .description('microVM manager: boots minimal Linux guests on KVM, qcow2 disks, benchmarks against containers')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

await registerCommands(program);

program.parseAsync(process.argv).catch(exitWithError);
