// `mvm helper start|stop|status|exec`: the helper VM by hand. mvm starts and
// stops it on its own (see src/helper/); these are for scripts, tests and
// benchmarks, and for looking at what it is doing.
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { runInHelper } from '../../helper/client.js';
import { insideHelper } from '../../helper/host-kvm.js';
import { currentHelperFiles, ensureHelper, findRunningHelper, pingHelper, stopHelper } from '../../helper/lifecycle.js';

function refuseInsideHelper(): void {
  if (insideHelper()) throw new UserError('this is already the helper VM; helper commands run on the host only', 2);
}

/** "1 h 2 min", "3 min 4 s", "5 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** Lines describing the helper's state, shared with `mvm doctor`. */
export async function helperStatusLines(): Promise<string[]> {
  const running = findRunningHelper();
  const files = currentHelperFiles();
  if (running === null) return ['helper VM: not running', `state directory: ${files.dir}`];
  const { state } = running;
  const uptime = formatDuration((Date.now() - state.startedAt) / 1000);
  const lines = [`helper VM: running, pid ${state.pid}, up ${uptime}, 127.0.0.1:${state.hostPort}, ${state.cpus} CPU, ${state.memoryMiB} MiB`];
  const reply = await pingHelper(state.hostPort, running.token);
  if (reply === null) {
    lines.push('helper daemon: not answering (still booting, or stuck; see the console log)');
  } else {
    const idle = reply.idleSeconds > 0 ? `powers off after ${formatDuration(reply.idleSeconds)} idle` : 'never powers off by itself';
    lines.push(
      `helper daemon: ready, kernel ${reply.kernel}, ${reply.activeRequests} request(s) running, warm spare ${reply.spareReady ? 'ready' : 'starting'}, ${idle}`,
    );
  }
  lines.push(`state directory: ${files.dir} (console.log, qemu.log)`);
  return lines;
}

export function register(program: Command): void {
  const helper = program
    .command('helper')
    .description('the helper VM that runs Linux guests on hosts whose KVM cannot (start, stop, status, exec)')
    // Lets `exec` hand every option after the command name to that command.
    .enablePositionalOptions();

  helper
    .command('start')
    .description('start the helper VM now (mvm otherwise starts it on first use)')
    .action(async () => {
      refuseInsideHelper();
      const started = Date.now();
      const running = await ensureHelper();
      process.stdout.write(`helper VM ready: pid ${running.state.pid} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    });

  helper
    .command('stop')
    .description('stop the helper VM (running commands inside it are ended)')
    .action(async () => {
      refuseInsideHelper();
      process.stdout.write((await stopHelper()) ? 'helper VM stopped\n' : 'helper VM was not running\n');
    });

  helper
    .command('status')
    .description('show whether the helper VM runs, and what it is doing')
    .action(async () => {
      refuseInsideHelper();
      process.stdout.write(`${(await helperStatusLines()).join('\n')}\n`);
    });

  helper
    .command('exec')
    .description('run a command inside the helper VM (for tests and benchmarks): mvm helper exec -- CMD ARGS...')
    .argument('<command...>', 'the command and its arguments')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (command: string[]) => {
      refuseInsideHelper();
      process.exitCode = await runInHelper('exec', command);
    });

  helper
    .command('mvm')
    .description('run an mvm command inside the helper VM in its warm node process: mvm helper mvm -- doctor')
    .argument('<args...>', 'the mvm command line')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (args: string[]) => {
      refuseInsideHelper();
      process.exitCode = await runInHelper('mvm', args);
    });
}
