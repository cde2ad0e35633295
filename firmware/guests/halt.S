/* Halts for good: prints a line, signals boot complete, then HLT with
   interrupts disabled, forever - what Linux's halt -f ends in. Nothing can
   wake it (no NMI source, the other vCPUs never started), so the VMM must
   notice by itself that the guest can never run again. */
#include "common.S"

        .globl _start
_start:
        call    map_mmio_gap
        lea     message(%rip), %rdi
        call    puts
        call    signal_boot_complete
        cli
1:      hlt
        jmp     1b

        .section .rodata
message: .asciz "halting with interrupts off\n"
