// Messages between the daemon and a warm spare over node's IPC channel.
import type { TerminalSize } from './protocol.js';

export type SpareMessage =
  /** spare → daemon: modules are loaded; the spare can take a request. */
  | { readonly type: 'ready' }
  /** daemon → spare: become this mvm command. */
  | {
      readonly type: 'run';
      readonly argv: readonly string[];
      readonly cwd: string;
      readonly env: Readonly<Record<string, string>>;
      readonly terminal: TerminalSize | null;
    }
  /** daemon → spare: the client's terminal changed size. */
  | { readonly type: 'resize'; readonly cols: number; readonly rows: number };
