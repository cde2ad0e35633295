// Specs that open /dev/kvm in the mocha process itself (the KVM layer driven
// directly, not through `mvm run`) on every kind of host.
//
// describeWithKvm(import.meta.url, TITLE, BODY) is `describe(TITLE, BODY)`
// where this process can open /dev/kvm. Where it cannot (a host whose kernel
// is itself a guest and has no /dev/kvm at all), the same spec file is run
// by mocha inside the helper VM, whose KVM is real, limited to TITLE's
// tests; here, each of BODY's tests becomes one that passes only if its twin
// passed in there, and fails with the twin's error otherwise. So the suite
// has the same tests, by the same names, on every host, and none is pending
// for lack of KVM.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT, kvmUnavailableReason, runMvm } from './mvm-cli.js';

const MOCHA = resolve(PROJECT_ROOT, 'node_modules/mocha/bin/mocha.js');
/** Node's start-up and the tests under emulation: seconds each; a cold helper adds its boot. */
const HELPER_RUN_TIMEOUT_MS = 600_000;

interface InnerResult {
  readonly passed: boolean;
  readonly message: string;
}

/** The mocha JSON reporter's shape, as much of it as is read here. */
interface MochaJson {
  readonly tests: readonly { readonly fullTitle: string; readonly err: { readonly message?: string } }[];
  readonly pending: readonly { readonly fullTitle: string }[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The titles of the tests BODY declares (nested describes joined with a
 * space, as mocha's fullTitle does), found by running BODY against stand-ins
 * for mocha's globals: its hooks are not run, here they would need KVM.
 */
function declaredTests(body: (this: Mocha.Suite) => void): string[] {
  const titles: string[] = [];
  const prefix: string[] = [];
  const globals = globalThis as unknown as Record<string, unknown>;
  const names = ['it', 'describe', 'before', 'after', 'beforeEach', 'afterEach'] as const;
  const saved = names.map((name) => globals[name]);
  const suiteStandIn = { timeout() {}, slow() {}, retries() {} } as unknown as Mocha.Suite;
  const nothing = (): void => {};
  globals['it'] = (title: string) => titles.push([...prefix, title].join(' '));
  globals['describe'] = (title: string, inner: (this: Mocha.Suite) => void) => {
    prefix.push(title);
    inner.call(suiteStandIn);
    prefix.pop();
  };
  for (const hook of ['before', 'after', 'beforeEach', 'afterEach']) globals[hook] = nothing;
  try {
    body.call(suiteStandIn);
  } finally {
    names.forEach((name, i) => {
      globals[name] = saved[i];
    });
  }
  return titles;
}

/** Runs TITLE's tests of the compiled spec FILE with mocha inside the helper VM; results by test title within TITLE. */
async function runInHelper(file: string, title: string): Promise<Map<string, InnerResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-kvm-spec-'));
  const output = join(dir, 'results.json');
  try {
    const run = await runMvm(
      [
        'helper',
        'exec',
        '--',
        process.execPath,
        MOCHA,
        '--no-config',
        '--timeout',
        '120000',
        '--reporter',
        'json',
        '--reporter-option',
        `output=${output}`,
        '--grep',
        `^${escapeRegExp(title)} `,
        file,
      ],
      { timeoutMs: HELPER_RUN_TIMEOUT_MS },
    );
    let json: MochaJson;
    try {
      json = JSON.parse(readFileSync(output, 'utf8')) as MochaJson;
    } catch {
      throw new Error(`mocha inside the helper VM wrote no results (exit ${run.status}): ${(run.stderr + run.stdout).trim().slice(-2000)}`);
    }
    const results = new Map<string, InnerResult>();
    const own = (fullTitle: string): string => fullTitle.slice(title.length + 1);
    for (const test of json.tests) {
      const message = test.err.message ?? '';
      results.set(own(test.fullTitle), { passed: message === '' && Object.keys(test.err).length === 0, message });
    }
    for (const test of json.pending) results.set(own(test.fullTitle), { passed: false, message: 'was skipped inside the helper VM' });
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function describeWithKvm(specUrl: string, title: string, body: (this: Mocha.Suite) => void): void {
  if (kvmUnavailableReason() === undefined) {
    describe(title, body);
    return;
  }
  const file = fileURLToPath(specUrl);
  describe(`${title} (inside the helper VM: ${kvmUnavailableReason()})`, function () {
    this.timeout(HELPER_RUN_TIMEOUT_MS + 10_000);
    let results: Map<string, InnerResult> | undefined;
    let failure: Error | undefined;
    before(async () => {
      try {
        results = await runInHelper(file, title);
      } catch (err) {
        failure = err as Error; // every test below reports it, rather than one hook failure hiding them
      }
    });
    for (const test of declaredTests(body)) {
      it(test, () => {
        if (failure) throw failure;
        const result = results?.get(test);
        expect(result, `"${test}" did not run inside the helper VM`).to.not.equal(undefined);
        if (!result!.passed) throw new Error(`inside the helper VM: ${result!.message}`);
      });
    }
  });
}
