// Errors the disk layer raises for bad images or bad requests. They are
// UserErrors so the CLI prints one line; the message always names the image.
import { UserError } from '../errors.js';

/** A disk image is malformed, unsupported, or the request on it is invalid. */
export class ImageError extends UserError {
  constructor(
    readonly imagePath: string,
    problem: string,
    exitCode = 1,
  ) {
    super(`${imagePath}: ${problem}`, exitCode);
    this.name = 'ImageError';
  }
}
