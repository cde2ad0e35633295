// EventNotifier is the host end of irqfd/ioeventfd; it needs no /dev/kvm.
import { expect } from 'chai';
import { EventNotifier } from '../../src/sys/event-notifier.js';

describe('EventNotifier (eventfd watched on the event loop)', () => {
  it('drains a signalled counter once, and reports an unsignalled one as empty', () => {
    const n = EventNotifier.create();
    try {
      expect(n.drain()).to.equal(false);
      n.signal();
      n.signal();
      expect(n.drain()).to.equal(true);
      expect(n.drain()).to.equal(false);
    } finally {
      n.close();
    }
  });

  it('calls the watcher once per wake-up, on the event loop', async () => {
    const n = EventNotifier.create();
    let calls = 0;
    try {
      await new Promise<void>((resolve) => {
        n.watch(() => {
          calls++;
          if (calls < 3) setTimeout(() => n.signal(), 5);
          else resolve();
        });
        n.signal();
      });
      expect(calls).to.equal(3);
    } finally {
      n.close();
    }
  });
});
