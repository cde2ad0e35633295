import { expect } from 'chai';
import { formatSize, parseSize } from '../../src/units/size.js';

describe('sizes', () => {
  it('parses and prints sizes like qemu-img', () => {
    expect(parseSize('512M')).to.equal(512 * 2 ** 20);
    expect(parseSize('10G')).to.equal(10 * 2 ** 30);
    expect(parseSize('1.5K')).to.equal(1536);
    expect(parseSize('4096')).to.equal(4096);
    expect(parseSize('2T')).to.equal(2 * 2 ** 40);
    expect(() => parseSize('ten')).to.throw(/invalid size "ten"/);
    expect(() => parseSize('-1G')).to.throw(/invalid size/);
    expect(formatSize(10 * 2 ** 30)).to.equal('10 GiB');
    expect(formatSize(1536)).to.equal('1.5 KiB');
    expect(formatSize(100)).to.equal('100 B');
  });
});
