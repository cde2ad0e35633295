import { expect } from 'chai';
import { SparePool } from '../../src/helper/spare-pool.js';

describe('helper spare pool', function () {
  this.timeout(30_000);

  it('hands two concurrent requests two different processes', async () => {
    const pool = new SparePool({ PATH: process.env.PATH ?? '/usr/bin:/bin' });
    pool.fill();
    const [a, b] = await Promise.all([pool.take(), pool.take()]);
    try {
      expect(a).to.not.equal(null);
      expect(b).to.not.equal(null);
      expect(a!.pid).to.not.equal(b!.pid);
    } finally {
      a?.kill('SIGKILL');
      b?.kill('SIGKILL');
      pool.close();
    }
  });
});
