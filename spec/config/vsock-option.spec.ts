import { expect } from 'chai';
import { resolve } from 'node:path';
import { parseVsockFlag, vsockSettings } from '../../src/config/vsock-option.js';
import { UserError } from '../../src/errors.js';

describe('--vsock option', () => {
  it('takes a CID and an absolute socket path', () => {
    expect(parseVsockFlag('cid=3,uds=/tmp/vm.sock')).to.deep.equal({ cid: 3, uds: '/tmp/vm.sock' });
    expect(parseVsockFlag('uds=rel.sock,cid=4294967294')).to.deep.equal({ cid: 4294967294, uds: resolve('rel.sock') });
  });

  it('defaults the socket to a per-process name in the current directory', () => {
    expect(parseVsockFlag('cid=9').uds).to.equal(resolve(`mvm-${process.pid}.vsock`));
  });

  for (const [text, why] of [
    ['uds=/tmp/x', /cid=N is required/],
    ['cid=2', /from 3/],
    ['cid=0', /from 3/],
    ['cid=4294967295', /from 3/],
    ['cid=-1', /not cid=N/],
    ['cid=3,port=5', /not cid=N/],
    [`cid=3,uds=/${'a'.repeat(100)}`, /too long/],
  ] as const) {
    it(`refuses "${text.slice(0, 30)}" with one clear line`, () => {
      expect(() => parseVsockFlag(text)).to.throw(UserError, why);
    });
  }

  it('checks a CID and a path given apart (a --config section) with the same rules, naming the key', () => {
    expect(vsockSettings('3', '/tmp/vm.sock')).to.deep.equal({ cid: 3, uds: '/tmp/vm.sock' });
    expect(() => vsockSettings('x'))
      .to.throw(UserError, /^cid must be a whole number, not "x"$/)
      .with.property('key', 'cid');
    expect(() => vsockSettings('3', `/${'a'.repeat(100)}`))
      .to.throw(UserError, /too long/)
      .with.property('key', 'uds');
  });
});
