// Drives a program in a real terminal: tmux gives it a pty, send-keys types,
// capture-pane reads the screen. Each session gets its own tmux server
// (-L socket), so no other tmux user on the machine can disturb it.
import { execFileSync } from 'node:child_process';

export class TmuxSession {
  private constructor(readonly name: string) {}

  private tmux(args: string[], encoding?: 'utf8'): string {
    return execFileSync('tmux', ['-L', this.name, ...args], encoding ? { encoding } : { stdio: 'ignore' }) as unknown as string;
  }

  static start(name: string, command: string, size = { columns: 120, rows: 40 }): TmuxSession {
    new TmuxSession(name).kill();
    const session = new TmuxSession(name);
    session.tmux(['new-session', '-d', '-s', name, '-x', String(size.columns), '-y', String(size.rows), command]);
    return session;
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', this.name], 'utf8');
  }

  type(keys: string, enter = true): void {
    this.tmux(['send-keys', '-t', this.name, '-l', keys]);
    if (enter) this.tmux(['send-keys', '-t', this.name, 'Enter']);
  }

  /** Polls the screen until `pattern` shows up; throws with the screen if it does not in time. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.screen();
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the screen:\n${text}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  kill(): void {
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
  }
}
