// A FrameBackend that records sent frames and lets a spec inject received ones.
import type { FrameBackend } from '../../../src/devices/virtio/net.js';

export class FakeWire implements FrameBackend {
  sent: Uint8Array[] = [];
  receive: ((frame: Uint8Array) => void) | undefined;
  send(frame: Uint8Array): boolean {
    this.sent.push(frame);
    return true;
  }
  onFrame(receive: (frame: Uint8Array) => void): void {
    this.receive = receive;
  }
}
