// The bottom line: what just happened (a stop sent, a console detached, a
// failed poll) on the left, the keys on the right.
import blessed from 'blessed';
import type { Widgets } from 'blessed';

export const KEYS_HELP = '↑/↓ select  s stop  c console  q quit';

/** `message` left, the key help right; the help yields when the message needs the room. */
export function statusText(message: string, width: number): string {
  const room = width - message.length;
  if (room >= KEYS_HELP.length + 2) return message + ' '.repeat(room - KEYS_HELP.length) + KEYS_HELP;
  return [...message].slice(0, Math.max(0, width)).join('');
}

export class StatusLine {
  readonly box: Widgets.BoxElement;
  private message = '';

  constructor(parent: Widgets.Screen) {
    this.box = blessed.box({ parent, bottom: 0, left: 0, width: '100%', height: 1, tags: false, style: { inverse: true } });
  }

  show(message: string): void {
    this.message = message;
    this.redraw();
  }

  redraw(): void {
    this.box.setContent(statusText(this.message, Number(this.box.width)));
  }
}
