// Fails when an import in src/ points up a floor (README, "How it fits
// together"): each top-level folder of src/ has a floor, and a module may
// import its own folder or a folder on a lower floor, never a higher one or a
// sibling on the same floor. Also fails when koffi (native code) is imported
// outside src/sys and src/kvm. Reads the import specifiers as text (static
// `from '…'` and `import('…')` with a literal), which is all mvm writes.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top-level folders (and files) of src/, highest floor first. */
const FLOORS = [
  ['cli'],
  ['config'],
  ['tui', 'bench', 'oci'],
  ['fleet'],
  ['vmm'],
  ['snapshot'],
  ['helper'],
  ['devices'],
  ['loader'],
  ['virtio', 'disk', 'arch'],
  ['bus', 'memory', 'kvm', 'api'],
  ['sys', 'runtime', 'units'],
  ['errors.ts'],
];

/** Process entry points that become the CLI: the only imports allowed to point up. */
const ENTRY_POINT_EXCEPTIONS = new Set([
  'src/fleet/vmm-process.ts -> src/cli/errors.ts', // `mvm __vmm` reports failures as the CLI does
  'src/helper/spare.ts -> src/cli/commands/index.ts', // the helper's warm spare turns into an mvm command
]);

/** Where native code may be called from. */
const KOFFI_ROOMS = new Set(['sys', 'kvm']);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..'); // fileURLToPath: a clone's path may hold spaces (%20 in a URL)
const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((name) => [name, FLOORS.length - i])));

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level folder (or file) of src/ that `path` belongs to. */
function room(path) {
  return relative(join(root, 'src'), path).split('/')[0];
}

const problems = [];
for (const file of sourceFiles(join(root, 'src'))) {
  const from = room(file);
  if (!floorOf.has(from)) problems.push(`${relative(root, file)}: src/${from} has no floor in scripts/check-layers.mjs`);
  const text = readFileSync(file, 'utf8');
  if (/\bfrom\s+'koffi'|\bimport\s*\(\s*'koffi'/.test(text) && !KOFFI_ROOMS.has(from)) {
    problems.push(`${relative(root, file)}: imports koffi, which only src/sys and src/kvm may`);
  }
  for (const match of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)'(\.[^']*)'/g)) {
    const target = resolve(dirname(file), match[1]).replace(/\.js$/, '.ts');
    const to = room(target);
    if (to === from) continue;
    const edge = `${relative(root, file)} -> ${relative(root, target)}`;
    if (floorOf.get(to) < floorOf.get(from) || ENTRY_POINT_EXCEPTIONS.has(edge)) continue;
    problems.push(
      `${edge}: src/${from} may not import src/${to} (a ${floorOf.get(to) === floorOf.get(from) ? 'sibling on its floor' : 'higher floor'})`,
    );
  }
}

if (problems.length > 0) {
  process.stderr.write(`imports against the layering rules:\n${problems.map((p) => `  ${p}\n`).join('')}`);
  process.exit(1);
}
