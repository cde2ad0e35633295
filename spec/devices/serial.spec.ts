import { expect } from 'chai';
import { SERIAL_INPUT_LIMIT, Serial16550 } from '../../src/devices/legacy/serial.js';

const THR = 0,
  IER = 1,
  IIR = 2,
  LCR = 3,
  MCR = 4,
  LSR = 5,
  MSR = 6,
  SCR = 7;

function uart() {
  const output: number[] = [];
  const irq: boolean[] = [];
  const serial = new Serial16550({ output: (b) => output.push(...b), interrupt: (l) => irq.push(l) });
  const read = (offset: number) => {
    const data = new Uint8Array(1);
    serial.read(offset, data);
    return data[0]!;
  };
  const write = (offset: number, value: number) => serial.write(offset, Uint8Array.of(value));
  return { serial, output, irq, read, write };
}

describe('16550 UART', () => {
  it('sends THR writes to the output and reports the transmitter empty', () => {
    const u = uart();
    for (const c of Buffer.from('ok\n')) u.write(THR, c);
    expect(Buffer.from(u.output).toString()).to.equal('ok\n');
    expect(u.read(LSR) & 0x60).to.equal(0x60);
    expect(u.serial.transmitted).to.equal(3);
  });

  it('keeps the divisor latch apart from THR and IER while DLAB is set', () => {
    const u = uart();
    u.write(LCR, 0x83);
    u.write(THR, 0x0c);
    u.write(IER, 0x00);
    expect(u.read(THR)).to.equal(0x0c);
    expect(u.read(IER)).to.equal(0);
    expect(u.output).to.deep.equal([]);
    u.write(LCR, 0x03);
    expect(u.read(IER)).to.equal(0);
  });

  it('raises THR-empty when it is enabled and clears it on an IIR read', () => {
    const u = uart();
    expect(u.read(IIR) & 0x0f).to.equal(0x01);
    u.write(IER, 0x02);
    expect(u.irq).to.deep.equal([true]);
    expect(u.read(IIR) & 0x0f).to.equal(0x02);
    expect(u.irq).to.deep.equal([true, false]);
    expect(u.read(IIR) & 0x0f).to.equal(0x01);
    u.write(THR, 0x41);
    expect(u.irq.at(-1)).to.equal(true);
  });

  it('delivers received bytes with data-ready, an interrupt, and in order', () => {
    const u = uart();
    u.write(IER, 0x01);
    u.serial.receive(Buffer.from('hi'));
    expect(u.irq).to.deep.equal([true]);
    expect(u.read(LSR) & 0x01).to.equal(1);
    expect(u.read(IIR) & 0x0f).to.equal(0x04);
    expect(u.read(THR)).to.equal(0x68);
    expect(u.read(THR)).to.equal(0x69);
    expect(u.read(LSR) & 0x01).to.equal(0);
    expect(u.irq.at(-1)).to.equal(false);
  });

  it('does not interrupt for input while the receive interrupt is disabled', () => {
    const u = uart();
    u.serial.receive(Buffer.from('x'));
    expect(u.irq).to.deep.equal([]);
    expect(u.read(LSR) & 0x01).to.equal(1);
  });

  it('reports FIFO mode in IIR and clears input on FCR', () => {
    const u = uart();
    u.write(IIR, 0x01);
    expect(u.read(IIR) & 0xc0).to.equal(0xc0);
    u.serial.receive(Buffer.from('abc'));
    u.write(IIR, 0x03);
    expect(u.serial.pendingInput).to.equal(0);
  });

  it('loops transmitted bytes back and mirrors modem lines in loopback mode', () => {
    const u = uart();
    u.write(MCR, 0x10 | 0x0f);
    u.write(THR, 0x5a);
    expect(u.output).to.deep.equal([]);
    expect(u.read(THR)).to.equal(0x5a);
    expect(u.read(MSR) & 0xf0).to.equal(0xf0);
    u.write(MCR, 0x10);
    expect(u.read(MSR) & 0xf0).to.equal(0);
  });

  it('keeps the scratch register', () => {
    const u = uart();
    u.write(SCR, 0xa5);
    expect(u.read(SCR)).to.equal(0xa5);
  });

  it('drops input beyond its limit, counts it and flags an overrun once', () => {
    const u = uart();
    u.serial.receive(new Uint8Array(SERIAL_INPUT_LIMIT + 10));
    expect(u.serial.pendingInput).to.equal(SERIAL_INPUT_LIMIT);
    expect(u.serial.droppedInput).to.equal(10);
    expect(u.read(LSR) & 0x02).to.equal(0x02);
    expect(u.read(LSR) & 0x02).to.equal(0);
  });

  it('survives out-of-range offsets and empty accesses', () => {
    const u = uart();
    const data = new Uint8Array(1);
    u.serial.read(9, data);
    expect(data[0]).to.equal(0xff);
    u.serial.write(9, new Uint8Array(0));
    u.serial.write(THR, new Uint8Array(0));
    expect(u.output).to.deep.equal([0]);
  });
});
