// The line a restore types into a template's agent (the host's clock in
// seconds, then the command as base64 of its shell-quoted words), the refusal
// of a command too long for one console line, and the marker found however
// the console output is cut into chunks.
import { expect } from 'chai';
import { agentReadsSerial } from '../../src/cli/commands/run-template.js';
import { AGENT_READY_MARKER, AgentReadyWatcher, agentRequest } from '../../src/vmm/guest-agent.js';

describe('guest agent protocol', () => {
  it('sends the clock in whole seconds and the command as one base64 word, quoted for sh', () => {
    const line = agentRequest(['sh', '-c', "echo 'it''s' $HOME"], 1_765_000_000_600);
    expect(line).to.be.instanceOf(Uint8Array);
    const [clock, encoded, ...rest] = Buffer.from(line as Uint8Array)
      .toString('latin1')
      .split(' ');
    expect(rest).to.deep.equal([]);
    expect(clock).to.equal('1765000001');
    expect(encoded!.endsWith('\n')).to.equal(true);
    expect(Buffer.from(encoded!.trim(), 'base64').toString('utf8')).to.equal(`sh -c 'echo '\\''it'\\'''\\''s'\\'' $HOME'`);
  });

  it('refuses a command longer than a console line carries', () => {
    expect(agentRequest(['echo', 'x'.repeat(4000)], 0)).to.match(/more than the 4000 a console line carries/);
  });

  it('sees the marker once, also when it arrives split across chunks', () => {
    const watcher = new AgentReadyWatcher();
    const cut = 10;
    expect(watcher.push(Buffer.from(`boot noise\r\n${AGENT_READY_MARKER.slice(0, cut)}`))).to.equal(false);
    expect(watcher.push(Buffer.from(`${AGENT_READY_MARKER.slice(cut)}\r\n`))).to.equal(true);
    expect(watcher.push(Buffer.from(`${AGENT_READY_MARKER}\r\n`))).to.equal(false);
  });
});

describe('the console a restored agent reads', () => {
  it('is the last console= on the command line, as Linux makes /dev/console', () => {
    expect(agentReadsSerial('console=ttyS0 reboot=k quiet')).to.equal(true);
    expect(agentReadsSerial('virtio_mmio.device=4K@0xd0000000:5 console=hvc0 reboot=k')).to.equal(false);
    expect(agentReadsSerial('console=hvc0 console=ttyS0,115200')).to.equal(true);
    expect(agentReadsSerial('console=ttyS0 console=hvc0')).to.equal(false);
    expect(agentReadsSerial('quiet')).to.equal(false);
  });
});
