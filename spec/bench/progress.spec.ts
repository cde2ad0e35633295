// The benchmarks' progress bar: drawn only when wanted, erased at the end.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { FORCE_PROGRESS_ENV, Progress, progressWanted, renderProgress } from '../../src/bench/progress.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

describe('bench progress bar', () => {
  it('fills in proportion to the steps done and names what runs', () => {
    expect(renderProgress(0, 10, 'mvm')).to.equal(`[${'.'.repeat(30)}]  0/10 mvm`);
    expect(renderProgress(5, 10, 'qemu')).to.equal(`[${'#'.repeat(15)}${'.'.repeat(15)}]  5/10 qemu`);
    expect(renderProgress(12, 10, 'x')).to.match(/^\[#{30}\] 12\/10 x$/);
  });

  it('writes nothing when disabled, and redraws then erases one line when enabled', () => {
    const off = sink();
    const quiet = new Progress(3, false, off.stream);
    quiet.step('a');
    quiet.clear();
    expect(off.text()).to.equal('');
    const on = sink();
    const bar = new Progress(2, true, on.stream);
    bar.step('a');
    bar.step('b');
    bar.clear();
    expect(on.text()).to.not.include('\n');
    expect(on.text()).to.include('2/2 b');
    expect(on.text().endsWith('\r\x1b[2K')).to.equal(true);
  });

  it('is wanted on a terminal or when forced by the forwarding mvm', () => {
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    expect(progressWanted(pipe, {})).to.equal(false);
    expect(progressWanted(pipe, { [FORCE_PROGRESS_ENV]: '1' })).to.equal(true);
    expect(progressWanted({ isTTY: true } as NodeJS.WriteStream, {})).to.equal(true);
  });
});
