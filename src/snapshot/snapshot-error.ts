// A snapshot that cannot be read, written or used: one line for the user,
// naming the snapshot and what is wrong with it.
import { UserError } from '../errors.js';

export class SnapshotError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}
