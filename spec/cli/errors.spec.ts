import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { describeError } from '../../src/cli/errors.js';
import { SyscallError } from '../../src/sys/syscall-error.js';
import { KvmUnavailableError } from '../../src/kvm/system.js';

describe('error handler', () => {
  it('prints user errors as their message with their exit code', () => {
    expect(describeError(new UserError('bad size', 2))).to.deep.equal({ message: 'bad size', exitCode: 2 });
  });

  it('treats an unusable /dev/kvm as a user-facing error', () => {
    const { message, exitCode } = describeError(new KvmUnavailableError('no permission to open /dev/kvm'));
    expect(message).to.equal('no permission to open /dev/kvm');
    expect(exitCode).to.equal(1);
  });

  it('names the failed system call and errno without a stack', () => {
    const { message } = describeError(new SyscallError('KVM_CREATE_VM', 12));
    expect(message).to.equal('KVM_CREATE_VM failed: ENOMEM (out of memory)');
  });

  it('keeps the stack for bugs, and asks for a report', () => {
    const { message, exitCode } = describeError(new TypeError('x is undefined'));
    expect(message).to.match(/^internal error \(please report\): TypeError: x is undefined\n\s+at /);
    expect(exitCode).to.equal(70);
  });
});
