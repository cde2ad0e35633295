// The host ↔ helper wire format: framing across arbitrary chunk boundaries,
// limits on hostile lengths, and validation of requests.
import { expect } from 'chai';
import {
  encodeChunked,
  encodeFrame,
  encodeJsonFrame,
  FrameDecoder,
  FrameType,
  MAX_FRAME_PAYLOAD,
  parseRequest,
  ProtocolError,
  PROTOCOL_VERSION,
} from '../../src/helper/protocol.js';

const validRequest = {
  version: PROTOCOL_VERSION,
  token: 't',
  kind: 'exec',
  argv: ['true'],
  cwd: '/',
  env: { TERM: 'xterm' },
  interactive: false,
  terminal: { cols: 80, rows: 24 },
};

describe('helper/protocol', () => {
  it('decodes frames split at every byte boundary', () => {
    const stream = Buffer.concat([
      encodeFrame(FrameType.Stdout, 'hello'),
      encodeFrame(FrameType.StdinEnd),
      encodeJsonFrame(FrameType.Exit, { code: 3, signal: null }),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      expect(frames.map((f) => f.type)).to.deep.equal([FrameType.Stdout, FrameType.StdinEnd, FrameType.Exit]);
      expect(frames[0].payload.toString()).to.equal('hello');
      expect(frames[1].payload.length).to.equal(0);
      expect(JSON.parse(frames[2].payload.toString())).to.deep.equal({ code: 3, signal: null });
      expect(decoder.bufferedBytes).to.equal(0);
    }
  });

  it('keeps an unfinished frame buffered', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(encodeFrame(FrameType.Stdout, 'abc').subarray(0, 6))).to.deep.equal([]);
    expect(decoder.bufferedBytes).to.equal(6);
  });

  it('refuses unknown frame types and oversized lengths', () => {
    expect(() => new FrameDecoder().push(Buffer.from([99, 0, 0, 0, 0]))).to.throw(ProtocolError, /unknown frame type 99/);
    const huge = Buffer.from([FrameType.Stdout, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameDecoder().push(huge)).to.throw(ProtocolError, /exceeds/);
    expect(() => encodeFrame(FrameType.Stdout, Buffer.alloc(MAX_FRAME_PAYLOAD + 1))).to.throw(RangeError);
  });

  it('splits large output into frames within the limit', () => {
    const data = Buffer.alloc(MAX_FRAME_PAYLOAD * 2 + 10, 7);
    const frames = encodeChunked(FrameType.Stdout, data);
    expect(frames).to.have.length(3);
    const decoded = new FrameDecoder().push(Buffer.concat(frames));
    expect(Buffer.concat(decoded.map((f) => f.payload)).equals(data)).to.equal(true);
  });

  describe('parseRequest', () => {
    it('accepts a valid request', () => {
      const request = parseRequest(validRequest);
      expect(request.argv).to.deep.equal(['true']);
      expect(request.terminal).to.deep.equal({ cols: 80, rows: 24 });
    });
    const broken: Array<[string, Record<string, unknown>, RegExp]> = [
      ['an old protocol version', { version: PROTOCOL_VERSION + 1 }, /protocol version/],
      ['a missing token', { token: 5 }, /token/],
      ['an unknown kind', { kind: 'shell' }, /unknown request kind/],
      ['a non-string argv', { argv: ['ls', 3] }, /argv/],
      ['an empty exec argv', { argv: [] }, /empty argv/],
      ['a relative cwd', { cwd: 'tmp' }, /absolute/],
      ['a non-string env value', { env: { A: 1 } }, /env A/],
      ['a bad terminal size', { terminal: { cols: -1, rows: 24 } }, /terminal size/],
      ['a non-boolean interactive', { interactive: 'yes' }, /interactive/],
    ];
    for (const [what, change, message] of broken) {
      it(`refuses ${what}`, () => {
        expect(() => parseRequest({ ...validRequest, ...change })).to.throw(ProtocolError, message);
      });
    }
    it('refuses a non-object', () => {
      expect(() => parseRequest('exec true')).to.throw(ProtocolError);
      expect(() => parseRequest(null)).to.throw(ProtocolError);
    });
  });
});
