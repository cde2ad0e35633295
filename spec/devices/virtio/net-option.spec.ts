import { expect } from 'chai';
import { parseNetOption } from '../../../src/devices/virtio/net-option.js';
import { UserError } from '../../../src/errors.js';

describe('--net option', () => {
  it('takes a tap name and an optional MAC', () => {
    const net = parseNetOption('tap=mvmtap0,mac=02:00:00:aa:bb:cc');
    expect(net.tap).to.equal('mvmtap0');
    expect([...net.mac]).to.deep.equal([2, 0, 0, 0xaa, 0xbb, 0xcc]);
  });

  it('makes up a locally administered unicast MAC when none is given', () => {
    for (let i = 0; i < 50; i++) {
      const { mac } = parseNetOption('tap=t0');
      expect(mac.length).to.equal(6);
      expect(mac[0]! & 0x03).to.equal(0x02);
    }
  });

  it('refuses a missing tap, a bad name, a malformed or multicast MAC, and unknown keys', () => {
    expect(() => parseNetOption('mac=02:00:00:00:00:01')).to.throw(UserError, /tap=NAME is required/);
    expect(() => parseNetOption('tap=much-too-long-name')).to.throw(UserError, /1-15/);
    expect(() => parseNetOption('tap=t0,mac=02:00:00:00:00')).to.throw(UserError, /six hex pairs/);
    expect(() => parseNetOption('tap=t0,mac=01:00:00:00:00:00')).to.throw(UserError, /multicast/);
    expect(() => parseNetOption('tap=t0,vhost=on')).to.throw(UserError, /"vhost=on"/);
  });
});
