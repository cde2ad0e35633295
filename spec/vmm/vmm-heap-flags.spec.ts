// The V8 flags a VMM process sets for itself (src/vmm/vmm-heap-flags.ts):
// the default, and MVM_VMM_V8_FLAGS replacing it (empty: V8's defaults).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { DEFAULT_VMM_V8_FLAGS, vmmV8Flags } from '../../src/vmm/vmm-heap-flags.js';

describe('VMM V8 flags', () => {
  it('uses the default list unless MVM_VMM_V8_FLAGS replaces it', () => {
    expect(vmmV8Flags({})).to.equal(DEFAULT_VMM_V8_FLAGS);
    expect(vmmV8Flags({ MVM_VMM_V8_FLAGS: '' })).to.equal('');
    expect(vmmV8Flags({ MVM_VMM_V8_FLAGS: ' --max-semi-space-size=1 ' })).to.equal('--max-semi-space-size=1');
  });

  it('sets the flags once per process: a later call, whatever its environment, changes nothing', () => {
    // A child process, so this one's V8 keeps its own flags.
    const url = new URL('../../src/vmm/vmm-heap-flags.js', import.meta.url).href;
    const script = `
      const { applyVmmV8Flags } = await import(${JSON.stringify(url)});
      const first = applyVmmV8Flags({});
      const second = applyVmmV8Flags({ MVM_VMM_V8_FLAGS: '--lite-mode' });
      process.stdout.write(JSON.stringify({ first, second }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).to.equal(0);
    expect(JSON.parse(child.stdout)).to.deep.equal({ first: DEFAULT_VMM_V8_FLAGS, second: DEFAULT_VMM_V8_FLAGS });
  });
});
