/* A wedged guest: prints a line, signals boot complete, then spins with
   interrupts disabled, forever. It never exits to the VMM and is not halted
   (so the halt watchdog leaves it alone): only the host can end this VM. */
#include "common.S"

        .globl _start
_start:
        call    map_mmio_gap
        lea     message(%rip), %rdi
        call    puts
        call    signal_boot_complete
        cli
1:      jmp     1b

        .section .rodata
message: .asciz "spinning with interrupts off\n"
