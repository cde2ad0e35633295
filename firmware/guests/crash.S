/* Executes ud2 with no IDT: #UD cannot be delivered, the CPU double- and
   then triple-faults, and KVM reports a shutdown. The VMM must explain it. */
#include "common.S"

        .globl _start
_start:
        lea     message(%rip), %rdi
        call    puts
        ud2

        .section .rodata
message: .asciz "about to crash\n"
