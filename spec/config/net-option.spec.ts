import { expect } from 'chai';
import { netSettings, parseNetFlag } from '../../src/config/net-option.js';
import { UserError } from '../../src/errors.js';

describe('--net option', () => {
  it('takes a tap name and an optional MAC', () => {
    const net = parseNetFlag('tap=mvmtap0,mac=02:00:00:aa:bb:cc');
    expect(net.tap).to.equal('mvmtap0');
    expect([...net.mac]).to.deep.equal([2, 0, 0, 0xaa, 0xbb, 0xcc]);
  });

  it('makes up a locally administered unicast MAC when none is given', () => {
    for (let i = 0; i < 50; i++) {
      const { mac } = parseNetFlag('tap=t0');
      expect(mac.length).to.equal(6);
      expect(mac[0]! & 0x03).to.equal(0x02);
    }
  });

  it('refuses a missing tap, a bad name, a malformed or multicast MAC, and unknown keys', () => {
    expect(() => parseNetFlag('mac=02:00:00:00:00:01')).to.throw(UserError, /tap=NAME is required/);
    expect(() => parseNetFlag('tap=much-too-long-name')).to.throw(UserError, /1-15/);
    expect(() => parseNetFlag('tap=t0,mac=02:00:00:00:00')).to.throw(UserError, /six hex pairs/);
    expect(() => parseNetFlag('tap=t0,mac=01:00:00:00:00:00')).to.throw(UserError, /multicast/);
    expect(() => parseNetFlag('tap=t0,vhost=on')).to.throw(UserError, /"vhost=on"/);
  });

  it('names the flag and its value in every message', () => {
    expect(() => parseNetFlag('tap=t0,mac=01:00:00:00:00:00')).to.throw(
      UserError,
      /^--net tap=t0,mac=01:00:00:00:00:00: MAC 01:00:00:00:00:00 is a multicast address$/,
    );
  });

  it('checks a tap and a MAC given apart (a --config section) with the same rules, naming the key', () => {
    expect([...netSettings('t0', '02:00:00:aa:bb:cc').mac]).to.deep.equal([2, 0, 0, 0xaa, 0xbb, 0xcc]);
    expect(() => netSettings('much-too-long-name'))
      .to.throw(UserError, /^tap name must be 1-15/)
      .with.property('key', 'tap');
    expect(() => netSettings('t0', '01:00:00:00:00:00'))
      .to.throw(UserError, /^MAC 01:00:00:00:00:00 is a multicast address$/)
      .with.property('key', 'mac');
  });
});
