// Where the image specs find the repository's scripts and build outputs.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: specs run from dist/spec/images/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const IMAGES_DIR = path.join(REPO_ROOT, 'images');
/** Build outputs of `make kernel` / `make rootfs` (the Makefile's OUT). */
export const IMAGES_OUT = path.join(IMAGES_DIR, 'out');
export const INIT_DIR = path.join(REPO_ROOT, 'firmware', 'init');
export const KERNEL_FRAGMENT = path.join(REPO_ROOT, 'firmware', 'kernel', 'mvm-guest.config');
