// Lends the terminal to a child process (the `c` key's `mvm console NAME`)
// and takes it back: the normal screen, a visible cursor and cooked mode
// while the child runs (it sets up its own raw mode), then the dashboard's
// alternate screen, raw mode and a full redraw. blessed's own screen.spawn
// does nearly this but silences output before its buffered "leave the
// alternate screen" is flushed, so the child would draw over the dashboard.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ReadStream } from 'node:tty';
import type { Widgets } from 'blessed';

export interface HandoverEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error: Error | null;
}

/** Runs `file args` on this terminal; `onBack` is called once the dashboard has the terminal again. */
export function lendTerminal(screen: Widgets.Screen, file: string, args: readonly string[], onBack: (end: HandoverEnd) => void): ChildProcess {
  const program = screen.program;
  const input = program.input as unknown as ReadStream;
  program.normalBuffer();
  program.showCursor();
  program.flush();
  input.pause();
  if (input.isTTY) input.setRawMode(false);

  let back = false;
  const takeBack = (end: HandoverEnd): void => {
    if (back) return;
    back = true;
    if (input.isTTY) input.setRawMode(true);
    input.resume();
    program.alternateBuffer();
    program.hideCursor();
    program.flush();
    screen.alloc(); // forget what blessed thinks is on screen: everything is drawn again
    screen.render();
    onBack(end);
  };
  const child = spawn(file, [...args], { stdio: 'inherit' });
  child.on('exit', (code, signal) => takeBack({ code, signal, error: null }));
  child.on('error', (error) => takeBack({ code: null, signal: null, error }));
  return child;
}
